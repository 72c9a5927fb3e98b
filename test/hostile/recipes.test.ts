/**
 * Hostile recipes (issue 8), property-based with fast-check: whatever a recipe file holds —
 * random YAML or JSON, random text, or a valid recipe or layer fragment of this repository
 * mutated (a key deleted, renamed or retyped, garbage inserted, the file cut short, a key twice,
 * lines mis-indented, a missing fragment, a `files:` source outside the tree or missing) — the
 * loader accepts it or refuses it with ib's own UsageError naming the file (and, where the YAML
 * has one, the line and the field path: `r.yaml:6 .packages.instal: …`); never a TypeError, a
 * ReferenceError, or a zod/yaml message with a stack. A sample of the refused files then goes
 * through the real CLI (`ib plan`, `ib build`): exit code 2, `error: …` without a stack, and
 * nothing written to the cache dir or store.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { isMap, isPair, isScalar, isSeq, parseDocument, stringify, type Document } from 'yaml';
import { IbError, UsageError } from '../../src/errors.js';
import { loadRecipe, type LoadedRecipe } from '../../src/recipe/load.js';
import { ib, REPO } from '../helpers/ib.js';

const work = mkdtempSync(join(tmpdir(), 'ib-hostile-recipes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let seq = 0;
/** A fresh directory per run, so one case's files never meet another's. */
function freshDir(): string {
  const d = join(work, String(++seq));
  mkdirSync(d, { recursive: true });
  return d;
}

type Outcome = { ok: true; loaded: LoadedRecipe } | { ok: false; err: unknown };

async function load(file: string): Promise<Outcome> {
  try {
    return { ok: true, loaded: await loadRecipe(file) };
  } catch (err) {
    return { ok: false, err };
  }
}

const ISSUE_LINE = /^ {2}(\S+?)(:\d+)? (\(top level\)|(?:\.[\w./-]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])+): \S/;

/**
 * The contract of a refusal: ib's UsageError; its first line starts with the file it is about;
 * no stack lines; a schema refusal lists one `file:line .path: what` line per problem, with the
 * line wherever the document has content; a YAML syntax error carries its line.
 */
function expectLocated(err: unknown, text?: string): string {
  if (!(err instanceof IbError)) throw new Error(`not an IbError: ${String((err as Error)?.stack ?? err)}`);
  expect(err).toBeInstanceOf(UsageError);
  const msg = err.message;
  expect(msg).not.toMatch(/^\s+at /m);
  expect(msg).not.toMatch(/ZodError|TypeError|ReferenceError|RangeError|\[object Object\]/);
  const first = msg.split('\n')[0]!;
  // `/tmp/…/r.yaml: invalid recipe:`, `r.yaml:3: invalid YAML: …`, `r.yaml .layers[0]: …`; the
  // file is a recipe or fragment (a layers entry may name any file, like /etc/hostname).
  const where = /^(\S+?)(:\d+)?(:| \.)/.exec(first);
  if (!where) throw new Error(`no file named first in:\n${msg}`);
  if (!/\.ya?ml$/.test(where[1]!)) expect(existsSync(where[1]!), msg).toBe(true);
  if (/: invalid recipe:$/.test(first)) {
    const issues = msg.split('\n').slice(1);
    expect(issues.length).toBeGreaterThan(0);
    const hasContent = text === undefined || parseDocument(text, { logLevel: 'silent' }).contents !== null;
    for (const l of issues) {
      const m = ISSUE_LINE.exec(l);
      if (!m) throw new Error(`unlocated issue line ${JSON.stringify(l)} in:\n${msg}`);
      if (hasContent && basename(first.split(':')[0]!) === m[1]) expect(m[2], l).toBeDefined();
    }
  }
  if (/invalid YAML/.test(first)) expect(first).toMatch(/^\S+:\d+: invalid YAML: \S/);
  return msg;
}

async function expectAcceptedOrLocated(file: string, text?: string): Promise<Outcome> {
  const r = await load(file);
  if (!r.ok) expectLocated(r.err, text);
  return r;
}

// ---------------------------------------------------------------------------------------------
// (a) random documents

const TOP_KEYS = [
  'name', 'bootstrap', 'from', 'layers', 'labels', 'annotations', 'sourceDateEpoch', 'outputs', 'description', 'repositories',
  'packages', 'files', 'groups', 'users', 'services', 'hostname', 'timezone', 'locale', 'keyboard', 'kernel', 'run',
];
const TYPOS = ['nmae', 'instal', 'layer', 'Packages', 'bootstrap ', '', '__proto__', 'constructor', 'toString', '<<'];

/** Values that are sometimes right for some key and often not. */
const leaf = fc.oneof(
  fc.constantFrom('x', 'bookworm', 'debian', 'htop', '/etc/motd', '0644', 'distro/debian-bookworm', 'root', 'http://deb.debian.org/debian', ''),
  fc.jsonValue({ maxDepth: 2 }),
);
const plausible = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 3 }), tie('map')),
  map: fc.dictionary(fc.oneof(fc.constantFrom(...TOP_KEYS, 'install', 'remove', 'path', 'content', 'source', 'suite', 'mirror', 'cmdline'), fc.constantFrom(...TYPOS), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 5 }),
})).value;

/** A recipe-shaped mapping: mostly real keys with right values, any of them possibly wrong. */
const validOr = <T>(valid: T) => fc.oneof({ arbitrary: fc.constant(valid), weight: 3 }, { arbitrary: plausible, weight: 1 });
const recipeLike = fc.record({
  name: fc.oneof({ arbitrary: fc.constant('fuzz'), weight: 3 }, { arbitrary: leaf, weight: 1 }),
  bootstrap: fc.oneof(fc.constant({}), fc.constant({ suite: 'bookworm' }), plausible),
  layers: fc.array(fc.oneof(
    { arbitrary: fc.constantFrom('platform/kernel', 'platform/serial-console', 'workload/network-tools'), weight: 4 },
    { arbitrary: fc.constantFrom('distro/debian-bookworm', '', '.', '..', 'distro', 'layers', '/etc/hostname', '../../../../etc/hostname', 'missing/x'), weight: 1 },
    { arbitrary: fc.oneof(fc.string({ maxLength: 12 }), leaf), weight: 1 },
  ), { maxLength: 3 }),
  packages: validOr({ install: ['htop'], remove: ['nano'] }),
  files: validOr([{ path: '/etc/motd', content: 'hi\n', mode: '0644' }]),
  extra: validOr({ hostname: 'h' }),
}, { requiredKeys: [] }).map(({ extra, ...rest }) => ({ ...rest, ...(extra && typeof extra === 'object' && !Array.isArray(extra) ? extra : {}) }));

/** Text with the characters YAML gives meaning to, and some that break it. */
const yamlish = fc.string({
  unit: fc.constantFrom(
    'name: x\n', 'bootstrap: {}\n', 'layers:\n', '  - ', '- ', ': ', ':', ' ', '  ', '\n', '\t', '{', '}', '[', ']', ',', '"', "'", '&a ', '*a', '*b', '&b ',
    '!!binary ', '!!str ', '!!int ', '!!set ', '!foo ', '%YAML 1.1\n', '---\n', '...\n', '? ', '|', '>', '#', '<<: ', 'x', '0644', '1e9', '~', 'null', '\\', '\u0000', '\ufeff', 'é',
  ),
  maxLength: 40,
});

function aliasBomb(levels: number): string {
  const lines = ['name: x', 'bootstrap: {}', 'l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < levels; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

describe('(a) random documents never make the loader throw anything but a located UsageError', () => {
  test('random JSON values, as JSON and as YAML', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), async (v, asJson) => {
        const file = join(freshDir(), 'r.yaml');
        const text = asJson ? JSON.stringify(v) ?? '' : stringify(v);
        writeFileSync(file, text);
        const r = await expectAcceptedOrLocated(file, text);
        if (!r.ok) refused++;
      }),
      { numRuns: 150 },
    );
    expect(refused).toBeGreaterThan(100);
  });

  test('recipe-shaped mappings with wrong types, typos and odd layer references', async () => {
    const seen = { ok: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(recipeLike, async (v) => {
        const file = join(freshDir(), 'r.yaml');
        const text = stringify(v);
        writeFileSync(file, text);
        const r = await expectAcceptedOrLocated(file, text);
        seen[r.ok ? 'ok' : 'refused']++;
      }),
      { numRuns: 250 },
    );
    expect(seen.ok).toBeGreaterThan(5);
    expect(seen.refused).toBeGreaterThan(100);
  });

  test('random YAML-ish text, alone and after a valid recipe', async () => {
    await fc.assert(
      fc.asyncProperty(yamlish, fc.boolean(), async (s, prefixed) => {
        const file = join(freshDir(), 'r.yaml');
        const text = (prefixed ? 'name: x\nbootstrap: {suite: bookworm}\n' : '') + s;
        writeFileSync(file, text);
        await expectAcceptedOrLocated(file, text);
      }),
      { numRuns: 300 },
    );
  });

  test('found by the properties: aliases without anchors and alias bombs are located YAML errors', async () => {
    const d = freshDir();
    writeFileSync(join(d, 'alias.yaml'), 'name: x\nbootstrap: {}\nhostname: *nope\n');
    writeFileSync(join(d, 'bomb.yaml'), aliasBomb(6));
    const alias = await load(join(d, 'alias.yaml'));
    expect(alias.ok).toBe(false);
    expect(expectLocated(!alias.ok && alias.err)).toBe(`${join(d, 'alias.yaml')}:3: invalid YAML: Unresolved alias (the anchor must be set before the alias): nope`);
    const bomb = await load(join(d, 'bomb.yaml'));
    expect(bomb.ok).toBe(false);
    expect(expectLocated(!bomb.ok && bomb.err)).toMatch(new RegExp(`^${join(d, 'bomb.yaml')}:\\d+: invalid YAML: Excessive alias count`));
  });

  test('found by the properties: a layers entry naming a directory is "not found", located at the entry', async () => {
    for (const ref of ['', '.', 'distro', 'layers']) {
      const d = freshDir();
      writeFileSync(join(d, 'r.yaml'), `name: x\nbootstrap: {}\nlayers: [platform/kernel, ${JSON.stringify(ref)}]\n`);
      const r = await load(join(d, 'r.yaml'));
      expect(r.ok).toBe(false);
      expect(expectLocated(!r.ok && r.err)).toBe(`r.yaml .layers[1]: layer fragment "${ref}" not found`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// (b) mutations of the repository's recipes and fragments

const RECIPES = readdirSync(join(REPO, 'recipes')).filter((f) => f.endsWith('.yaml')).sort();
const FRAGMENTS = readdirSync(join(REPO, 'layers'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml')).sort();

/** Every recipe and fragment, each with a recipe that loads it. */
const TARGETS: { file: string; recipe: string }[] = [
  ...RECIPES.map((r) => ({ file: `recipes/${r}`, recipe: `recipes/${r}` })),
  ...FRAGMENTS.map((f) => {
    const ref = f.replace(/\.yaml$/, '');
    const r = RECIPES.find((x) => readFileSync(join(REPO, 'recipes', x), 'utf8').includes(`- ${ref}\n`));
    return { file: `layers/${f}`, recipe: `recipes/${r ?? RECIPES[0]}` };
  }),
];

type Mutation =
  | { kind: 'delete-key'; pick: number }
  | { kind: 'rename-key'; pick: number; to: string }
  | { kind: 'retype'; pick: number; value: unknown }
  | { kind: 'garbage'; at: number; text: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate-key'; pick: number }
  | { kind: 'indent'; line: number; by: number }
  | { kind: 'missing-layer'; name: string }
  | { kind: 'source'; path: string };

const SOURCE_PATHS = ['../../../../../../etc/hostname', '/etc/hostname', 'no/such/file', '.', '', '../recipes'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete-key' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('rename-key' as const),
    pick: fc.nat(),
    to: fc.oneof(fc.constantFrom(...TYPOS, ...TOP_KEYS, 'instal', 'suit', 'pathh'), fc.string({ minLength: 1, maxLength: 10 })),
  }),
  fc.record({ kind: fc.constant('retype' as const), pick: fc.nat(), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(420, 'yes', [], {}, null, -1, 1e300, 'x'.repeat(500))) }),
  fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(), text: fc.oneof(yamlish, fc.string({ maxLength: 20, unit: 'binary-ascii' })) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-key' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), line: fc.nat(), by: fc.integer({ min: -4, max: 4 }).filter((n) => n !== 0) }),
  fc.record({ kind: fc.constant('missing-layer' as const), name: fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8})?$/).map((n) => `missing/${n}`) }),
  fc.record({ kind: fc.constant('source' as const), path: fc.constantFrom(...SOURCE_PATHS) }),
);

/** Paths of every key in a document (maps within maps and lists), in document order. */
function keyPaths(doc: Document): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item) || !isScalar(item.key)) continue;
        const p = [...path, String(item.key.value)];
        out.push(p);
        walk(item.value, p);
      }
    } else if (isSeq(node)) {
      node.items.forEach((it, i) => walk(it, [...path, i]));
    }
  };
  walk(doc.contents, []);
  return out;
}

function mutate(text: string, m: Mutation, isRecipe: boolean): string {
  const doc = parseDocument(text);
  const paths = keyPaths(doc);
  const lines = text.split('\n');
  switch (m.kind) {
    case 'delete-key': {
      if (paths.length === 0) return text;
      doc.deleteIn(paths[m.pick % paths.length]!);
      return doc.toString();
    }
    case 'rename-key': {
      if (paths.length === 0) return text;
      const p = paths[m.pick % paths.length]!;
      const value = doc.getIn(p, true);
      doc.deleteIn(p);
      doc.setIn([...p.slice(0, -1), m.to], value);
      return doc.toString();
    }
    case 'retype': {
      if (paths.length === 0) return text;
      doc.setIn(paths[m.pick % paths.length]!, doc.createNode(m.value));
      return doc.toString();
    }
    case 'garbage': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'duplicate-key': {
      const keyed = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[\w-]+:/.test(l));
      if (keyed.length === 0) return text;
      const [l, i] = keyed[m.pick % keyed.length]!;
      lines.splice(i + 1, 0, l);
      return lines.join('\n');
    }
    case 'indent': {
      const i = m.line % lines.length;
      lines[i] = m.by > 0 ? ' '.repeat(m.by) + lines[i] : lines[i]!.replace(new RegExp(`^ {0,${-m.by}}`), '');
      return lines.join('\n');
    }
    case 'missing-layer': {
      if (!isRecipe) return text;
      const layers = doc.getIn(['layers']);
      if (isSeq(layers)) layers.add(doc.createNode(m.name));
      else doc.set('layers', doc.createNode([m.name]));
      return doc.toString();
    }
    case 'source': {
      const files = doc.getIn(['files']);
      const entry = doc.createNode({ path: '/etc/ib-fuzz', source: m.path });
      if (isSeq(files)) files.add(entry);
      else doc.set('files', doc.createNode([{ path: '/etc/ib-fuzz', source: m.path }]));
      return doc.toString();
    }
  }
}

/** A private copy of recipes/ and layers/, so fragments resolve as in the repository. */
function copyTree(): string {
  const d = freshDir();
  cpSync(join(REPO, 'recipes'), join(d, 'recipes'), { recursive: true });
  cpSync(join(REPO, 'layers'), join(d, 'layers'), { recursive: true });
  return d;
}

interface MutatedCase {
  dir: string;
  recipe: string;
  target: string;
  text: string;
  m: Mutation;
}

function makeCase(t: (typeof TARGETS)[number], m: Mutation): MutatedCase {
  const dir = copyTree();
  const target = join(dir, t.file);
  const text = mutate(readFileSync(target, 'utf8'), m, t.file === t.recipe);
  writeFileSync(target, text);
  return { dir, recipe: join(dir, t.recipe), target, text, m };
}

describe('(b) mutated recipes and fragments are accepted or refused with a located error', () => {
  test('the unmutated recipes load', async () => {
    for (const r of RECIPES) expect((await load(join(copyTree(), 'recipes', r))).ok).toBe(true);
    expect(TARGETS.length).toBe(RECIPES.length + FRAGMENTS.length);
    expect(FRAGMENTS.length).toBeGreaterThanOrEqual(5);
  });

  test('every mutation of every file', async () => {
    const seen: Record<string, { ok: number; refused: number }> = {};
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TARGETS), mutation, async (t, m) => {
        const c = makeCase(t, m);
        const r = await expectAcceptedOrLocated(c.recipe, c.target === c.recipe ? c.text : undefined);
        (seen[m.kind] ??= { ok: 0, refused: 0 })[r.ok ? 'ok' : 'refused']++;
        const msg = r.ok ? '' : (r.err as Error).message;
        // The mutations whose outcome is known say so precisely (unless the mutated text is
        // refused earlier for another reason, which the located check above already covers).
        if (m.kind === 'missing-layer' && t.file === t.recipe) {
          expect(r.ok).toBe(false);
          expect(msg).toMatch(/^[\w.-]+\.yaml \.layers\[\d+\]: layer fragment "missing\/[a-z/]+" not found$/);
        }
        if (m.kind === 'source') {
          const readable = existsSync(resolve(c.target, '..', m.path)) && !['.', '', '../recipes'].includes(m.path);
          if (readable) {
            expect(r.ok, msg).toBe(true);
            const layer = r.ok ? r.loaded.layers.find((l) => l.file === c.target) : undefined;
            expect(layer?.inputs[m.path]).toMatch(/^sha256:[0-9a-f]{64}$/);
          } else {
            expect(r.ok).toBe(false);
            expect(msg).toMatch(new RegExp(`^${c.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\.files\\[\\d+\\]\\.source: cannot read `));
          }
        }
        if (m.kind === 'duplicate-key') expect(msg).toMatch(/^\S+\.yaml:\d+: invalid YAML: Map keys must be unique/);
      }),
      { numRuns: 300 },
    );
    // Every kind of mutation was tried, and the set as a whole both passes and fails.
    expect(Object.keys(seen).sort()).toEqual(['delete-key', 'duplicate-key', 'garbage', 'indent', 'missing-layer', 'rename-key', 'retype', 'source', 'truncate']);
    const total = Object.values(seen).reduce((a, s) => ({ ok: a.ok + s.ok, refused: a.refused + s.refused }), { ok: 0, refused: 0 });
    expect(total.ok).toBeGreaterThan(20);
    expect(total.refused).toBeGreaterThan(100);
  });
});

// ---------------------------------------------------------------------------------------------
// (c) through the real CLI

function listAll(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => relative(dir, join(dir, p))).sort() : [];
}

describe('(c) refused recipes through the real CLI', () => {
  test('ib plan and ib build: exit 2, one located error, no stack, nothing written', async () => {
    // Cases from the generators above that the loader refuses, with a fixed seed (reproducible),
    // plus the crashes the properties found.
    const refused: string[] = [];
    for (const [t, m] of fc.sample(fc.tuple(fc.constantFrom(...TARGETS), mutation), { numRuns: 200, seed: 8 })) {
      const c = makeCase(t, m);
      if (!(await load(c.recipe)).ok) refused.push(c.recipe);
      if (refused.length === 6) break;
    }
    expect(refused).toHaveLength(6);
    const d = freshDir();
    writeFileSync(join(d, 'bomb.yaml'), aliasBomb(6));
    writeFileSync(join(d, 'alias.yaml'), 'name: x\nbootstrap: {}\nhostname: *nope\n');
    writeFileSync(join(d, 'dir-layer.yaml'), 'name: x\nbootstrap: {}\nlayers: [distro]\n');
    writeFileSync(join(d, 'collection-key.yaml'), 'name: x\nbootstrap: {}\n? [a, b]\n: c\nhostname: !weird h\n');
    refused.push(...['bomb', 'alias', 'dir-layer', 'collection-key'].map((n) => join(d, `${n}.yaml`)));

    for (const [i, file] of refused.entries()) {
      const cacheDir = freshDir();
      // Every third one is built rather than planned: the build must refuse it before it
      // touches the cache or the store.
      const verb = i % 3 === 2 ? 'build' : 'plan';
      const r = await ib([verb, file], { cacheDir });
      const what = `ib ${verb} ${file}:\n${r.stderr}`;
      expect(r.code, what).toBe(2);
      expect(r.stdout, what).toBe('');
      expect(r.stderr, what).toMatch(/^error: \S+\.ya?ml/);
      expect(r.stderr, what).not.toMatch(/^\s+at /m);
      expect(r.stderr, what).not.toMatch(/TypeError|ReferenceError|ZodError|Warning:/);
      expect(listAll(cacheDir), what).toEqual([]);
    }
  });
});
