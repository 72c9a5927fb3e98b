/** The engine part's public face: a local Docker/Podman engine through its API (dockerode). */
export { connectEngine, engineSocket, loadArchive, saveArchive, inspectEngineImage, familiarName, type Engine, type EngineOptions, type EngineImage } from './engine.js';
export { archiveFromStore, archiveToStore, type ArchiveImage } from './archive.js';
export { chainIds, ensureStackImage, stackArchive, stackImageName, EXECUTOR_REPO, type StackLayer } from './stack-image.js';
export { StepContainer, containerOptions, type Change, type ChangeKind, type ContainerBind, type ContainerSpec } from './container.js';
export { readChanges, changesList, changesTarArgs, type IoDir, type ReadChangesResult } from './changes.js';
