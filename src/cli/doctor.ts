import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { HOST_FILES, HOST_TOOLS } from '../exec/tools.js';
import { IbError } from '../errors.js';

function onPath(tool: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d && existsSync(`${d}/${tool}`));
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('list missing host tools and the apt-get line that installs them')
    .option('--install', 'install the missing packages with apt-get')
    .option('--dev', 'include what tests and benchmarks need')
    .action(async (o: { install?: boolean; dev?: boolean }) => {
      const missing = new Map<string, string[]>();
      for (const t of HOST_TOOLS) {
        if (t.dev && !o.dev) continue;
        const ok = onPath(t.tool);
        process.stdout.write(`${ok ? 'ok     ' : 'MISSING'} ${t.tool.padEnd(20)} ${t.pkg.padEnd(22)} ${t.for}\n`);
        if (!ok) missing.set(t.pkg, [...(missing.get(t.pkg) ?? []), t.tool]);
      }
      for (const f of HOST_FILES) {
        const ok = existsSync(f.path);
        process.stdout.write(`${ok ? 'ok     ' : 'MISSING'} ${f.path.padEnd(20)} ${f.pkg.padEnd(22)} ${f.for}\n`);
        if (!ok) missing.set(f.pkg, [...(missing.get(f.pkg) ?? []), f.path]);
      }
      if (missing.size === 0) {
        process.stdout.write('everything ib needs is installed\n');
        return;
      }
      const line = `apt-get update && apt-get install -y --no-install-recommends ${[...missing.keys()].sort().join(' ')}`;
      if (!o.install) {
        process.stdout.write(`\nmissing: ${[...missing.keys()].sort().join(' ')}\ninstall with:\n  ${line}\n(or: ib doctor --install)\n`);
        process.exitCode = 1;
        return;
      }
      const { run } = await import('../exec/run.js');
      if (process.getuid?.() !== 0) throw new IbError('ib doctor --install needs root', { hint: `run: sudo ${line}` });
      await run('apt-get', ['update'], { inherit: true });
      await run('apt-get', ['install', '-y', '--no-install-recommends', ...[...missing.keys()].sort()], { inherit: true, env: { DEBIAN_FRONTEND: 'noninteractive' } });
    });
}
