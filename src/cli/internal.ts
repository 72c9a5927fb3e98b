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

export function registerInternalOstree(program: Command): void {
  program
    .command('__ostree-grub2-exec [args...]', { hidden: true })
    .description('write an ostree sysroot\'s grub.cfg; libostree runs it as OSTREE_GRUB2_EXEC (internal)')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const { generateGrubCfg } = await import('../ostree/grub-exec.js');
      await generateGrubCfg(args);
    });
}
