/**
 * Kernel arguments an image asks for, the bootc way: `/usr/lib/bootc/kargs.d/*.toml` with
 * `kargs = ["…"]` and an optional `match-architectures = ["x86_64"]`, applied in file-name order
 * (ib's recipe `kernel.cmdline` writes 10-ib.toml). Read from the commit, so what the image says
 * is what the deployment boots with.
 */
import { text } from 'node:stream/consumers';
import { IbError } from '../errors.js';
import type { Commit, OstreeRepo } from './repo.js';
import { readCommitDir } from './walk.js';

export const KARGS_DIR = 'usr/lib/bootc/kargs.d';

function stringArray(toml: string, key: string, file: string): string[] | undefined {
  const m = new RegExp(`^\\s*${key}\\s*=\\s*(\\[.*\\])\\s*(#.*)?$`, 'm').exec(toml);
  if (!m) return undefined;
  try {
    const v: unknown = JSON.parse(m[1]!);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // fall through to the error below
  }
  throw new IbError(`${file}: ${key} must be a one-line array of double-quoted strings`, { hint: 'write it like kargs = ["console=ttyS0,115200", "quiet"]' });
}

/** Parse one kargs.d file; undefined when it is for other architectures. */
export function parseKargsToml(toml: string, file: string, arch = 'x86_64'): string[] | undefined {
  const archs = stringArray(toml, 'match-architectures', file);
  if (archs && !archs.includes(arch)) return undefined;
  return stringArray(toml, 'kargs', file) ?? [];
}

export async function commitKargs(repo: OstreeRepo, commit: Commit, arch = 'x86_64'): Promise<string[]> {
  const files = await readCommitDir(repo, commit, KARGS_DIR);
  if (!files) return [];
  const out: string[] = [];
  for (const name of [...files.keys()].filter((n) => n.endsWith('.toml')).sort()) {
    const body = await text(await repo.openContent(files.get(name)!));
    out.push(...(parseKargsToml(body, `/${KARGS_DIR}/${name}`, arch) ?? []));
  }
  return out;
}
