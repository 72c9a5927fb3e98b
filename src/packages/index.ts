export * from './apt.js';
export * from './dpkg-status.js';
export * from './mirror.js';
export * from './mmdebstrap.js';
