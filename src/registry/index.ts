/**
 * The registry part's public face: push, pull, copy and inspect over the OCI distribution API
 * and the other transports (oci: layouts, the Docker/Podman engine), reference parsing, login,
 * and the registry build cache.
 */
export * from './reference.js';
export { RegistryError, redactUrl } from './errors.js';
export { RegistrySession, type ConnectionOptions } from './connection.js';
export { findCredentials, authFilePaths, parseCreds, type Credentials } from './credentials.js';
export { parsePlatform, formatPlatform, choosePlatform } from './platform.js';
export type { LocalStore } from './store-port.js';
export type { PushResult, PushTuning } from './push.js';
export type { PullResult, PullTuning } from './pull.js';
export type { CopyResult, CopyTuning } from './copy.js';
export { pushImage, pullImage, copyImage, type RegistryOptions } from './transfer.js';
export { inspectRemote, type RemoteImage, type InspectJson } from './inspect.js';
export { login, logout, loginFile, checkCredentials } from './login.js';
export { readRegistryCache, writeRegistryCache, fetchCachedLayer, CacheStep, CACHE_ARTIFACT_TYPE, type CacheOptions } from './cache.js';
