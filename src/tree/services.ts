/**
 * Recipe `services:` applied with the tree's own systemctl, run in a chroot: it works offline
 * (no systemd running; checked with systemd 252), follows the [Install] sections of the tree's
 * unit versions, and resolves every path inside the chroot, so a unit linking out of the tree
 * cannot make it write on the host. Units are checked first so a typo is named by ib instead of
 * surfacing as systemctl's exit code.
 */
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { resolveInRoot, statInRoot } from './resolve.js';

export interface ServiceChanges {
  enable?: readonly string[];
  disable?: readonly string[];
  mask?: readonly string[];
}

const UNIT_TYPES = ['service', 'socket', 'target', 'timer', 'path', 'mount', 'automount', 'swap', 'slice', 'scope', 'device'];

/** Where systemd looks for system units (systemd.unit(5)), highest priority first. */
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** `ssh` → `ssh.service`, as systemctl does. */
export function unitName(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot > 0 && UNIT_TYPES.includes(name.slice(dot + 1))) return name;
  return `${name}.service`;
}

/** The unit file that defines `unit` in the tree (a template for `x@i.service`), or undefined. */
export async function findUnit(root: string, unit: string): Promise<string | undefined> {
  const template = unit.replace(/@[^.]*\./, '@.');
  for (const dir of UNIT_DIRS) {
    for (const name of template === unit ? [unit] : [unit, template]) {
      const path = `${dir}/${name}`;
      if (await statInRoot(root, path)) return path;
    }
  }
  return undefined;
}

async function checkUnits(root: string, units: readonly string[]): Promise<string[]> {
  const names = units.map(unitName);
  const missing: string[] = [];
  for (const u of names) if (!(await findUnit(root, u))) missing.push(u);
  if (missing.length > 0) {
    const list = missing.map((m) => `"${m}"`).join(', ');
    throw new IbError(`unknown systemd unit${missing.length > 1 ? 's' : ''} ${list}: no unit file in ${UNIT_DIRS.join(', ')} of the tree`, {
      hint: 'check the name, or install the package that ships the unit in this or an earlier step',
    });
  }
  return names;
}

/**
 * Enable, then disable, then mask (so a unit both enabled and masked ends up masked). `run` is
 * injectable so a build can route the chroot through its isolated runner.
 */
export async function applyServices(root: string, changes: ServiceChanges, opts: { run?: Run } = {}): Promise<void> {
  const run = opts.run ?? defaultRun;
  const steps: [string, readonly string[]][] = [
    ['enable', changes.enable ?? []],
    ['disable', changes.disable ?? []],
    ['mask', changes.mask ?? []],
  ];
  if (steps.every(([, u]) => u.length === 0)) return;
  if (!(await statInRoot(root, '/usr/bin/systemctl')) && !(await statInRoot(root, '/bin/systemctl'))) {
    throw new IbError('services: the tree has no systemctl', { hint: 'install systemd (systemd-sysv) in this or an earlier step' });
  }
  const chrootDir = await resolveInRoot(root, '/');
  for (const [verb, units] of steps) {
    if (units.length === 0) continue;
    const names = await checkUnits(root, units);
    // SYSTEMD_OFFLINE: systemd >= 250 would otherwise try to talk to the host's PID 1 if the
    // chroot detection ever fails (for example with the host's /proc bound into the tree).
    await run('chroot', [chrootDir, 'systemctl', '--no-reload', verb, ...names], { env: { SYSTEMD_OFFLINE: '1' } });
  }
}
