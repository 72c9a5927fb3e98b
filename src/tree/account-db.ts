/**
 * The tree's account database (/etc/passwd, group, shadow, gshadow and login.defs) read into
 * memory, edited, and written back through the safe writers. ib edits these files itself instead
 * of running the tree's useradd: it needs no chroot (works on any tree, any architecture), and
 * every field is decided here, so the shadow "last change" day comes from SOURCE_DATE_EPOCH and
 * never from the build machine's clock.
 */
import { IbError } from '../errors.js';
import { readFileInRoot, statInRoot, writeFileInRoot } from './resolve.js';

/** One colon-separated file. Comment and blank lines are kept as they are. */
export class ColonFile {
  readonly lines: (string[] | string)[];
  changed = false;

  constructor(
    readonly path: string,
    text: string | undefined,
    readonly fieldCount: number,
    readonly exists: boolean,
  ) {
    this.lines = (text ?? '')
      .split('\n')
      .filter((l, i, all) => !(l === '' && i === all.length - 1))
      .map((l) => (l === '' || l.startsWith('#') ? l : l.split(':')));
  }

  entries(): string[][] {
    return this.lines.filter((l): l is string[] => Array.isArray(l));
  }

  get(name: string): string[] | undefined {
    return this.entries().find((e) => e[0] === name);
  }

  add(fields: string[]): void {
    while (fields.length < this.fieldCount) fields.push('');
    this.lines.push(fields);
    this.changed = true;
  }

  set(name: string, index: number, value: string): void {
    const e = this.get(name);
    if (!e || e[index] === value) return;
    while (e.length <= index) e.push('');
    e[index] = value;
    this.changed = true;
  }

  text(): string {
    return this.lines.map((l) => (Array.isArray(l) ? l.join(':') : l)).join('\n') + '\n';
  }
}

export interface LoginDefs {
  get(key: string): string | undefined;
  num(key: string, fallback: number): number;
}

export function parseLoginDefs(text: string | undefined): LoginDefs {
  const map = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*([A-Z_]+)\s+(\S+)/.exec(line);
    if (m) map.set(m[1]!, m[2]!);
  }
  return {
    get: (k) => map.get(k),
    num: (k, fallback) => {
      const v = map.get(k);
      if (v === undefined) return fallback;
      const n = v.startsWith('0') && v.length > 1 ? parseInt(v, 8) : parseInt(v, 10);
      return Number.isFinite(n) ? n : fallback;
    },
  };
}

export interface AccountDb {
  passwd: ColonFile;
  group: ColonFile;
  shadow: ColonFile;
  gshadow: ColonFile;
  defs: LoginDefs;
}

async function load(root: string, path: string, fields: number): Promise<ColonFile> {
  const buf = await readFileInRoot(root, path);
  return new ColonFile(path, buf?.toString('utf8'), fields, buf !== undefined);
}

export async function loadAccounts(root: string): Promise<AccountDb> {
  return {
    passwd: await load(root, '/etc/passwd', 7),
    group: await load(root, '/etc/group', 4),
    shadow: await load(root, '/etc/shadow', 9),
    gshadow: await load(root, '/etc/gshadow', 4),
    defs: parseLoginDefs((await readFileInRoot(root, '/etc/login.defs'))?.toString('utf8')),
  };
}

/** Write back the files that changed. New shadow files are 0640 root:shadow, as Debian ships them. */
export async function saveAccounts(root: string, db: AccountDb): Promise<void> {
  const shadowGid = Number(db.group.get('shadow')?.[2] ?? 0);
  for (const f of [db.passwd, db.group, db.shadow, db.gshadow]) {
    if (!f.changed) continue;
    // gshadow only where the tree keeps one: a tree without it (busybox, some minimal images)
    // must not gain one. shadow is needed as soon as a password or account is added.
    if (f === db.gshadow && !f.exists) continue;
    const secret = f === db.shadow || f === db.gshadow;
    const existing = await statInRoot(root, f.path);
    await writeFileInRoot(root, f.path, f.text(), existing ? {} : secret ? { mode: 0o640, uid: 0, gid: shadowGid } : { mode: 0o644 });
    f.changed = false;
  }
}

/** The uid/gid of a user or group name, from the tree's own files. */
export function lookupId(file: ColonFile, name: string, what: 'user' | 'group'): number {
  const e = file.get(name);
  if (!e) {
    throw new IbError(`no ${what} "${name}" in the tree's ${file.path}`, {
      hint: `declare it under ${what === 'user' ? 'users' : 'groups'}: in this or an earlier layer, or give a numeric id`,
    });
  }
  return Number(e[2]);
}

/**
 * The id useradd/groupadd would pick (shadow's find_new_uid/find_new_gid, 4.13): a free
 * preferred id wins (gid = uid for a user's own group); system ids count down from just below the
 * lowest system id in use, regular ids up from just above the highest, and only when that end is
 * exhausted are gaps reused (reusing a deleted account's id would hand it that account's files).
 */
export function allocateId(file: ColonFile, system: boolean, defs: LoginDefs, kind: 'UID' | 'GID', prefer?: number): number {
  const regularMin = defs.num(`${kind}_MIN`, 1000);
  const min = system ? Math.max(1, defs.num(`SYS_${kind}_MIN`, 101)) : regularMin;
  const max = system ? defs.num(`SYS_${kind}_MAX`, regularMin - 1) : defs.num(`${kind}_MAX`, 60000);
  const all = new Set(file.entries().map((e) => Number(e[2])));
  const free = (id: number) => id >= min && id <= max && id !== 65535 && !all.has(id);
  if (prefer !== undefined && prefer >= (system ? 1 : min) && prefer <= max && prefer !== 65535 && !all.has(prefer)) return prefer;
  const used = [...all].filter((id) => id >= min && id <= max);
  if (system) {
    let start = used.length === 0 ? max : Math.min(...used) - 1;
    if (start < min) start = max;
    for (let id = start; id >= min; id--) if (free(id)) return id;
    for (let id = max; id >= min; id--) if (free(id)) return id;
  } else {
    let start = used.length === 0 ? min : Math.max(...used) + 1;
    if (start > max) start = min;
    for (let id = start; id <= max; id++) if (free(id)) return id;
    for (let id = min; id <= max; id++) if (free(id)) return id;
  }
  throw new IbError(`no free ${system ? 'system ' : ''}${kind} left between ${min} and ${max}`, { hint: `give the ${kind.toLowerCase()} explicitly in the recipe` });
}

/** Days since the epoch for shadow's "last change" field: from SOURCE_DATE_EPOCH, never the clock. */
export function shadowDay(sourceDateEpoch: number): string {
  return String(Math.floor(sourceDateEpoch / 86400));
}
