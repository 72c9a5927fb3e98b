/** Internal commands ib runs of itself (hidden from --help). */
import type { Command } from 'commander';

export function registerInternal(program: Command): void {
  program
    .command('__step <spec>', { hidden: true })
    .description('run one build step inside its namespace (internal)')
    .action(async (spec: string) => {
      const { runStepInside } = await import('../build/step-inside.js');
      await runStepInside(spec);
    });
}

export function registerInternalFlatten(program: Command): void {
  program
    .command('__flatten <spec>', { hidden: true })
    .description('copy a mounted layer stack out to a directory (internal)')
    .action(async (spec: string) => {
      const { flattenInside } = await import('../tree/flatten.js');
      await flattenInside(spec);
    });
}
