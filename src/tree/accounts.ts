/**
 * Recipe `groups:` and `users:` applied to a tree, with the results useradd/groupadd/usermod
 * would give (checked against shadow 4.13 on Debian 12): user-private groups, ids counted from
 * login.defs, `!` (locked) when no password hash is given, system accounts without password ageing,
 * homes from /etc/skel. Existing accounts are updated, never recreated.
 */
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Group, User } from '../recipe/schema.js';
import { IbError } from '../errors.js';
import { allocateId, loadAccounts, saveAccounts, shadowDay, type AccountDb } from './account-db.js';
import { mkdirInRoot, readFileInRoot, resolveInRoot, statInRoot, symlinkInRoot, writeFileInRoot } from './resolve.js';

export interface AccountOptions {
  /** Seconds since the epoch; the shadow "last change" day is derived from it. */
  sourceDateEpoch: number;
}

function addGroup(db: AccountDb, name: string, gid: number): void {
  db.group.add([name, 'x', String(gid), '']);
  if (db.gshadow.exists) db.gshadow.add([name, '!', '', '']);
}

export async function applyGroups(root: string, groups: readonly Group[]): Promise<void> {
  if (groups.length === 0) return;
  const db = await loadAccounts(root);
  for (const g of groups) ensureGroup(db, g);
  await saveAccounts(root, db);
}

function ensureGroup(db: AccountDb, g: Group): number {
  const existing = db.group.get(g.name);
  if (existing) {
    const gid = Number(existing[2]);
    if (g.gid !== undefined && g.gid !== gid) {
      throw new IbError(`group "${g.name}" already exists in the tree with gid ${gid}, the recipe asks for ${g.gid}`, {
        hint: 'drop the gid from the recipe, or use a new group name',
      });
    }
    return gid;
  }
  if (g.gid !== undefined) {
    const owner = db.group.entries().find((e) => Number(e[2]) === g.gid);
    if (owner) throw new IbError(`gid ${g.gid} for group "${g.name}" is already used by group "${owner[0]}"`, { hint: 'pick a free gid or leave it out' });
  }
  const gid = g.gid ?? allocateId(db.group, g.system, db.defs, 'GID');
  addGroup(db, g.name, gid);
  return gid;
}

function addMember(db: AccountDb, group: string, user: string): void {
  for (const [file, index] of [[db.group, 3], [db.gshadow, 3]] as const) {
    const e = file.get(group);
    if (!e) continue;
    const members = (e[index] ?? '').split(',').filter(Boolean);
    if (!members.includes(user)) file.set(group, index, [...members, user].join(','));
  }
}

interface Account {
  uid: number;
  gid: number;
  home: string;
}

function createUser(db: AccountDb, u: User, day: string): Account {
  if (u.uid !== undefined) {
    const owner = db.passwd.entries().find((e) => Number(e[2]) === u.uid);
    if (owner) throw new IbError(`uid ${u.uid} for user "${u.name}" is already used by "${owner[0]}"`, { hint: 'pick a free uid or leave it out' });
  }
  const uid = u.uid ?? allocateId(db.passwd, u.system, db.defs, 'UID');
  let gid: number;
  if (u.gid !== undefined && db.group.entries().some((e) => Number(e[2]) === u.gid)) gid = u.gid;
  else if (u.gid === undefined && db.group.get(u.name)) gid = Number(db.group.get(u.name)![2]);
  else {
    // A user-private group, with gid = uid when that gid is free (USERGROUPS_ENAB).
    gid = u.gid ?? allocateId(db.group, u.system, db.defs, 'GID', uid);
    addGroup(db, u.name, gid);
  }
  const home = u.home ?? `/home/${u.name}`;
  db.passwd.add([u.name, 'x', String(uid), String(gid), '', home, u.shell]);
  const pw = u.password ?? '!';
  // useradd -r leaves ageing empty for system accounts; regular ones get login.defs' values.
  db.shadow.add(
    u.system
      ? [u.name, pw, day, '', '', '', '', '', '']
      : [u.name, pw, day, String(db.defs.num('PASS_MIN_DAYS', 0)), String(db.defs.num('PASS_MAX_DAYS', 99999)), String(db.defs.num('PASS_WARN_AGE', 7)), '', '', ''],
  );
  return { uid, gid, home };
}

function updateUser(db: AccountDb, u: User, day: string, e: string[]): Account {
  const uid = Number(e[2]);
  const gid = Number(e[3]);
  if (u.uid !== undefined && u.uid !== uid) {
    throw new IbError(`user "${u.name}" already exists in the tree with uid ${uid}, the recipe asks for ${u.uid}`, {
      hint: 'drop the uid from the recipe (files it owns would keep the old id), or use a new user name',
    });
  }
  if (u.gid !== undefined && u.gid !== gid) {
    throw new IbError(`user "${u.name}" already exists in the tree with gid ${gid}, the recipe asks for ${u.gid}`, { hint: 'drop the gid from the recipe' });
  }
  db.passwd.set(u.name, 6, u.shell);
  if (u.home !== undefined) db.passwd.set(u.name, 5, u.home);
  if (u.password !== undefined) {
    if (!db.shadow.get(u.name)) db.shadow.add([u.name, u.password, day, '', '', '', '', '', '']);
    else if (db.shadow.get(u.name)![1] !== u.password) {
      db.shadow.set(u.name, 1, u.password);
      db.shadow.set(u.name, 2, day);
    }
  }
  return { uid, gid, home: u.home ?? e[5] ?? `/home/${u.name}` };
}

/** Copy the tree's /etc/skel into a new home, owned by the user (useradd -m). */
async function copySkel(root: string, rel: string, home: string, a: Account): Promise<void> {
  const src = await resolveInRoot(root, join('/etc/skel', rel));
  let names: string[];
  try {
    names = (await readdir(src)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const from = join('/etc/skel', rel, name);
    const to = join(home, rel, name);
    const st = await statInRoot(root, from, { follow: false });
    if (!st) continue;
    const own = { uid: a.uid, gid: a.gid, mode: st.mode & 0o7777 };
    if (st.isDirectory()) {
      await mkdirInRoot(root, to, own);
      await copySkel(root, join(rel, name), home, a);
    } else if (st.isSymbolicLink()) {
      await symlinkInRoot(root, to, await readlink(join(src, name)), own);
    } else if (st.isFile()) {
      await writeFileInRoot(root, to, (await readFileInRoot(root, from))!, own);
    }
  }
}

async function addSshKeys(root: string, a: Account, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const own = { uid: a.uid, gid: a.gid };
  await mkdirInRoot(root, join(a.home, '.ssh'), { ...own, mode: 0o700 });
  const path = join(a.home, '.ssh/authorized_keys');
  const old = (await readFileInRoot(root, path))?.toString('utf8') ?? '';
  const lines = old.split('\n').filter((l) => l.trim() !== '');
  // Merge rather than replace: a later layer adding a key must not drop the base's keys.
  for (const k of keys.map((k) => k.trim())) if (!lines.includes(k)) lines.push(k);
  await writeFileInRoot(root, path, lines.join('\n') + '\n', { ...own, mode: 0o600 });
}

/**
 * Create or update users. Supplementary groups must exist (from `groups:` or the base); the
 * primary group is the user's own group unless `gid` names an existing one. `shell` is always set
 * (the schema's default is /bin/bash); `home` and `password` only when given.
 */
export async function applyUsers(root: string, users: readonly User[], opts: AccountOptions): Promise<void> {
  if (users.length === 0) return;
  const db = await loadAccounts(root);
  const day = shadowDay(opts.sourceDateEpoch);
  const accounts: { u: User; a: Account; created: boolean }[] = [];
  for (const u of users) {
    for (const g of u.groups) {
      if (!db.group.get(g)) {
        throw new IbError(`user "${u.name}": no group "${g}" in the tree's /etc/group`, {
          hint: `declare it under groups: (groups are created before users), or install the package that creates it in an earlier step`,
        });
      }
    }
    const e = db.passwd.get(u.name);
    const a = e ? updateUser(db, u, day, e) : createUser(db, u, day);
    for (const g of u.groups) addMember(db, g, u.name);
    accounts.push({ u, a, created: !e });
  }
  await saveAccounts(root, db);
  const umask = db.defs.num('UMASK', 0o022);
  const homeMode = db.defs.num('HOME_MODE', 0o777 & ~umask);
  for (const { u, a, created } of accounts) {
    if (created && (!u.system || u.home !== undefined) && !(await statInRoot(root, a.home))) {
      await mkdirInRoot(root, a.home, { uid: a.uid, gid: a.gid, mode: homeMode });
      await copySkel(root, '', a.home, a);
    }
    await addSshKeys(root, a, u.sshKeys);
  }
}
