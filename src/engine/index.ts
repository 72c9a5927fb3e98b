/** The engine part's public face: a local Docker/Podman engine through its API (dockerode). */
export { connectEngine, engineSocket, loadArchive, saveArchive, inspectEngineImage, familiarName, type Engine, type EngineOptions, type EngineImage } from './engine.js';
export { archiveFromStore, archiveToStore, type ArchiveImage } from './archive.js';
