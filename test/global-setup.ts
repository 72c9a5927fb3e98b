/**
 * Suite-wide setup: the real registry server on 127.0.0.1 (random port). Tests read its address
 * from `inject('registry')`. Further shared fixtures (a prepared base image) hook in here.
 */
import type { TestProject } from 'vitest/node';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const teardowns: (() => Promise<void>)[] = [];
  try {
    const { startRegistry } = await import('./helpers/registry.js');
    const reg = await startRegistry();
    project.provide('registry', reg.address);
    teardowns.push(reg.stop);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
  }
  return async () => {
    for (const t of teardowns.reverse()) await t();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    registry: string;
  }
}
