/**
 * A layer's customizations applied to a mounted tree, in the one order that lets each see what
 * the previous made: groups before users (supplementary groups), users before files (owner names),
 * files before services (a recipe may ship its own unit). Packages, repositories and `run:` are the
 * build's business; this is everything else a layer says.
 */
import type { LayerBody } from '../recipe/schema.js';
import type { Run } from '../exec/run.js';
import { applyGroups, applyUsers } from './accounts.js';
import { applyFiles } from './files.js';
import { applyServices } from './services.js';
import { applyHostname, applyKernelCmdline, applyKeyboard, applyLocale, applyTimezone } from './settings.js';

export interface CustomizeOptions {
  /** Directory of the recipe or layer file: `files[].source` is relative to it. */
  baseDir: string;
  sourceDateEpoch: number;
  /** Runner for the chroot'ed tools (systemctl, locale-gen). */
  run?: Run;
}

export type Customizations = Pick<LayerBody, 'files' | 'groups' | 'users' | 'services' | 'hostname' | 'timezone' | 'locale' | 'keyboard' | 'kernel'>;

/** True if the layer body asks for any customization (so the build can skip the step). */
export function hasCustomizations(c: Partial<Customizations>): boolean {
  return (
    (c.files?.length ?? 0) > 0 ||
    (c.groups?.length ?? 0) > 0 ||
    (c.users?.length ?? 0) > 0 ||
    (c.services !== undefined && (c.services.enable.length + c.services.disable.length + c.services.mask.length) > 0) ||
    c.hostname !== undefined ||
    c.timezone !== undefined ||
    c.locale !== undefined ||
    c.keyboard !== undefined ||
    (c.kernel?.cmdline.length ?? 0) > 0
  );
}

export async function applyCustomizations(root: string, c: Partial<Customizations>, opts: CustomizeOptions): Promise<void> {
  await applyGroups(root, c.groups ?? []);
  await applyUsers(root, c.users ?? [], { sourceDateEpoch: opts.sourceDateEpoch });
  await applyFiles(root, c.files ?? [], opts.baseDir);
  if (c.hostname !== undefined) await applyHostname(root, c.hostname);
  if (c.timezone !== undefined) await applyTimezone(root, c.timezone);
  if (c.locale !== undefined) await applyLocale(root, c.locale, { run: opts.run });
  if (c.keyboard !== undefined) await applyKeyboard(root, c.keyboard);
  if (c.kernel !== undefined) await applyKernelCmdline(root, c.kernel.cmdline);
  if (c.services !== undefined) await applyServices(root, c.services, { run: opts.run });
}
