/**
 * Suite-wide setup: the real registry server on 127.0.0.1 (random port) and the shared base image
 * (debian-minimal, built once per run and cached between runs). Tests read them with inject().
 */
import type { TestProject } from 'vitest/node';
import { startRegistry } from './helpers/registry.js';
import { ensureBaseImage } from './helpers/base-image.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reg = await startRegistry();
  project.provide('registry', reg.address);
  try {
    project.provide('baseImage', await ensureBaseImage());
  } catch (e) {
    await reg.stop();
    throw e;
  }
  return async () => {
    await reg.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    registry: string;
    baseImage: { cacheDir: string; tag: string; digest: string; buildSeconds: number };
  }
}
