/** The root tree on disk: safe writes, customizations, layer capture. */
export { resolveInRoot, writeFileInRoot, mkdirInRoot, symlinkInRoot, removeInRoot, readFileInRoot, statInRoot, type Ownership } from './resolve.js';
export { applyFiles, parseMode, resolveOwner } from './files.js';
export { applyGroups, applyUsers, type AccountOptions } from './accounts.js';
export { applyServices, findUnit, unitName, UNIT_DIRS, type ServiceChanges } from './services.js';
export { applyHostname, applyTimezone, applyLocale, applyKeyboard, applyKernelCmdline } from './settings.js';
export { finalizeInstantiation, SSH_KEYGEN_UNIT, type InstantiationResult } from './instantiate.js';
export { applyCustomizations, hasCustomizations, type Customizations, type CustomizeOptions } from './customize.js';
export { captureUpper, type CaptureOptions, type CaptureStats } from './capture.js';
export { LowerView, type LowerEntry } from './lower-view.js';
export { noiseAction, type NoiseAction } from './noise.js';
export { isWhiteout, walkTree, sameEntry } from './layer-entry.js';
export { scanDiff, type ScanDiffOptions } from './scan-diff.js';
export { runIsolated, mountStepRoot, releaseStepRoot, stepPath, writeStepResult, ibEntry, confinedRun, STEP_CAPS, STEP_DEV_NODES, type StepSpec, type StepMounts, type Bind } from './isolate.js';
export { flattenLayers } from './flatten.js';
export { materializeLayers, type MaterializeOptions, type MaterializeStats } from './materialize.js';
export { overlaySupported, kernelHasOverlay } from './overlay-support.js';
