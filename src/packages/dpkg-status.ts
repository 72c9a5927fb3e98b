/** dpkg's status database, read directly: which packages are installed, at which version. */
import { readFile } from 'node:fs/promises';

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
}

/** Parse a dpkg `status` file; only packages whose Status is "install ok installed". */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const para of text.split(/\n\n+/)) {
    const f: Record<string, string> = {};
    for (const line of para.split('\n')) {
      const m = /^([A-Za-z-]+):\s?(.*)$/.exec(line);
      if (m) f[m[1]!] = m[2]!;
    }
    if (f.Package && f.Status === 'install ok installed') {
      out.push({ name: f.Package, version: f.Version ?? '', architecture: f.Architecture ?? '' });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Candidate locations: classic, and ostree-prepared trees (dpkg db moved under /usr). */
export const DPKG_STATUS_PATHS = ['/var/lib/dpkg/status', '/usr/lib/sysimage/dpkg/status'];

export async function readInstalled(statusFile: string): Promise<InstalledPackage[]> {
  return parseDpkgStatus(await readFile(statusFile, 'utf8'));
}
