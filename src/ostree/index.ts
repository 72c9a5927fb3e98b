/**
 * ostree: prepare a root tree, commit it, deploy it to a sysroot, and carry commits as
 * ostree-native ("bootable") container images and back. Knows trees, repos and images, never
 * recipes or builds.
 */
export { prepareTree, type PrepareOptions, type PreparedTree } from './prepare.js';
export { ostreeCommit, ensureRepo, type CommitOptions, type CommitRepoMode } from './commit.js';
export { OstreeRepo, metaString, type Commit, type DirTree, type DirMeta, type FileObject, type RepoMode } from './repo.js';
export { deploySysroot, upgradeSysroot, emptyGrubenv, type DeployOptions, type UpgradeOptions, type Deployment } from './deploy.js';
export { generateGrubCfg, writeGrubExecShim, grubHeader, GRUB_EXEC_ENV } from './grub-exec.js';
export { encapsulate, LABELS, DEFAULT_MAX_LAYERS, type EncapsulateOptions, type EncapsulatedImage, type EncapsulatedLayer } from './encapsulate.js';
export { COMPONENTS_ANNOTATION, packChunks, priorBins, type Component } from './chunking.js';
export { importContainer, ostreeLayerCount, type ImportOptions, type ImportedCommit } from './import.js';
