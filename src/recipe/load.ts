/**
 * Loading a recipe: YAML → zod → Recipe, with layer fragments resolved. Every error names the
 * file, the YAML line and the path (`recipe.yaml:14 .packages.install[2]: …`) and what is valid.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, LineCounter, parseDocument, visit, type Alias, type Document } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { LayerFile, Recipe, type LayerBody } from './schema.js';

/** A layer fragment after loading: its body, where it came from, and the digests of its inputs. */
export interface LoadedLayer {
  /** Display name: the path relative to the layers dir, or "<recipe>" for the recipe's own body. */
  name: string;
  file: string;
  body: LayerBody;
  /** sha256 of every `source:` file, keyed by the path the fragment gave. */
  inputs: Record<string, string>;
  /** This fragment carries the bootstrap: its packages go into the bootstrap itself. */
  carriesBootstrap?: boolean;
}

export interface LoadedRecipe {
  file: string;
  recipe: Recipe;
  /** Fragments in order, then the recipe's own body (when it changes anything). */
  layers: LoadedLayer[];
  /** The bootstrap, from the recipe or from exactly one fragment. */
  bootstrap?: NonNullable<Recipe['bootstrap']> & { from: string };
}

function pathToString(path: readonly PropertyKey[]): string {
  // A key that is not a plain word is quoted: `.labels["a b"]`, not `.labels.a b` (or a newline).
  const part = (p: PropertyKey) => (typeof p === 'number' ? `[${p}]` : /^[\w./-]+$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`);
  return path.map(part).join('') || '(top level)';
}

function lineOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number | undefined {
  // Walk down as far as the path exists; an unknown key reports the line of its parent's key.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function keyLine(doc: Document, lc: LineCounter, parent: readonly PropertyKey[], key: string): number | undefined {
  const node = parent.length === 0 ? doc.contents : doc.getIn(parent as unknown[], true);
  if (isMap(node)) {
    for (const item of node.items) {
      const k = item.key as { value?: unknown; range?: [number, number, number] } | null;
      if (k && k.value === key && k.range) return lc.linePos(k.range[0]).line;
    }
  }
  return lineOf(doc, lc, parent);
}

/** Parse and validate one YAML file against a schema, with located errors. */
export async function parseYamlFile<T extends z.ZodType>(file: string, schema: T): Promise<z.infer<T>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'check the path; layer fragments are looked up beside the recipe and in the layers/ folder',
    });
  }
  const lc = new LineCounter();
  // logLevel 'error': yaml's warnings (unknown tags, collection keys) would go to stderr as
  // process warnings; what matters is reported below, located.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    throw new UsageError(`${file}:${line}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS() ?? {};
  } catch (e) {
    // Aliases are resolved only here: an alias to no anchor, or an alias bomb (yaml's
    // maxAliasCount), throws a bare ReferenceError.
    const line = aliasLine(doc, lc, (e as Error).message);
    throw new UsageError(`${file}${line ? `:${line}` : ''}: invalid YAML: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'an alias (*name) needs an anchor (&name) before it, and may not expand without bound',
    });
  }
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const lines = res.error.issues.slice(0, 8).map((issue) => {
    let path = issue.path as PropertyKey[];
    let msg = issue.message;
    let line: number | undefined;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      line = keyLine(doc, lc, path, key);
      path = [...path, key];
      const shape = shapeKeys(schema, issue.path as PropertyKey[]);
      msg = `unknown key ${JSON.stringify(key)}${shape ? `; valid keys: ${shape.join(', ')}` : ''}`;
    } else {
      line = lineOf(doc, lc, path);
      if (issue.code === 'invalid_type') {
        const got = valueAt(value, path);
        msg = got === undefined ? `required: expected ${issue.expected}` : `expected ${issue.expected}, got ${describe(got)}`;
      }
    }
    return `${basename(file)}${line ? `:${line}` : ''} ${pathToString(path)}: ${msg}`;
  });
  throw new UsageError(`${file}: invalid recipe:\n  ${lines.join('\n  ')}`, {
    hint: 'run `ib schema` for the full recipe schema',
  });
}

/** The line of the alias a toJS error is about (named in the message), else of the first alias. */
function aliasLine(doc: Document, lc: LineCounter, message: string): number | undefined {
  let first: Alias | undefined;
  let named: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      first ??= node;
      if (message.endsWith(`: ${node.source}`)) {
        named = node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  const at = (named ?? first)?.range?.[0];
  return at === undefined ? undefined : lc.linePos(at).line;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const text = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? JSON.stringify(v) : String(v);
  return `${typeof v} ${text.length > 60 ? `${text.slice(0, 57)}…` : text}`;
}

function valueAt(v: unknown, path: readonly PropertyKey[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** The keys a strict object schema accepts at `path`, for "valid keys:" hints. */
function shapeKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let cur: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let x = s as { def?: { type?: string; innerType?: unknown; element?: unknown; in?: unknown } ; shape?: unknown };
    for (let i = 0; i < 10 && x?.def; i++) {
      const t = x.def.type;
      if (t === 'optional' || t === 'default' || t === 'nullable' || t === 'prefault') x = x.def.innerType as typeof x;
      else if (t === 'pipe') x = x.def.in as typeof x;
      else break;
    }
    return x;
  };
  for (const p of path) {
    cur = unwrap(cur);
    const c = cur as { def?: { type?: string; element?: unknown }; shape?: Record<string, unknown> };
    if (typeof p === 'number') cur = c.def?.type === 'array' ? c.def.element : undefined;
    else cur = c.shape?.[p as string];
    if (!cur) return undefined;
  }
  const s = unwrap(cur) as { shape?: Record<string, unknown> };
  return s?.shape ? Object.keys(s.shape) : undefined;
}

/** Where shipped layer fragments live (the package's own layers/ folder). */
export function builtinLayersDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../layers');
}

function findLayerFile(ref: string, recipeFile: string): string | undefined {
  const names = ref.endsWith('.yaml') || ref.endsWith('.yml') ? [ref] : [`${ref}.yaml`, ref];
  const dirs = isAbsolute(ref)
    ? ['']
    : [dirname(recipeFile), join(dirname(recipeFile), 'layers'), join(dirname(recipeFile), '..', 'layers'), builtinLayersDir()];
  for (const d of dirs) for (const n of names) {
    const p = d ? join(d, n.replace(/^layers\//, '')) : n;
    if (isFile(p)) return p;
    const q = d ? join(d, n) : n;
    if (isFile(q)) return q;
  }
  return undefined;
}

// A directory of that name (`""`, `.`, `distro`) is no fragment: it used to be read, and failed
// with a bare EISDIR that named neither the recipe nor the layers entry.
function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}

async function fileDigests(body: LayerBody, baseDir: string, file: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [i, f] of body.files.entries()) {
    if (f.source === undefined) continue;
    const p = resolve(baseDir, f.source);
    try {
      out[f.source] = 'sha256:' + createHash('sha256').update(await readFile(p)).digest('hex');
    } catch {
      throw new UsageError(`${file} .files[${i}].source: cannot read ${p}`, { hint: 'source paths are relative to the file that names them' });
    }
  }
  for (const [i, r] of body.repositories.entries()) {
    if (r.signedBy && !r.signedBy.includes('BEGIN PGP')) {
      const p = resolve(baseDir, r.signedBy);
      try {
        out[r.signedBy] = 'sha256:' + createHash('sha256').update(await readFile(p)).digest('hex');
      } catch {
        throw new UsageError(`${file} .repositories[${i}].signedBy: cannot read ${p}`, { hint: 'give a key file relative to the recipe, or the ASCII-armoured key inline' });
      }
    }
  }
  return out;
}

/** A body changes something only if one of its actions is non-empty. */
export function bodyIsEmpty(b: LayerBody): boolean {
  return (
    b.repositories.length === 0 && !b.packages?.install.length && !b.packages?.remove.length && b.files.length === 0 &&
    b.groups.length === 0 && b.users.length === 0 && !b.services?.enable.length && !b.services?.disable.length &&
    !b.services?.mask.length && b.hostname === undefined && b.timezone === undefined && b.locale === undefined &&
    b.keyboard === undefined && !b.kernel?.cmdline.length && b.run.length === 0
  );
}

function bodyOf(v: LayerBody & Record<string, unknown>): LayerBody {
  const { description, repositories, packages, files, groups, users, services, hostname, timezone, locale, keyboard, kernel, run } = v;
  return { description, repositories, packages, files, groups, users, services, hostname, timezone, locale, keyboard, kernel, run };
}

export async function loadRecipe(file: string): Promise<LoadedRecipe> {
  const abs = resolve(file);
  const recipe = await parseYamlFile(abs, Recipe);
  const layers: LoadedLayer[] = [];
  let bootstrap: LoadedRecipe['bootstrap'] = recipe.bootstrap ? { ...recipe.bootstrap, from: relative(process.cwd(), abs) } : undefined;
  for (const [i, ref] of recipe.layers.entries()) {
    const lf = findLayerFile(ref, abs);
    if (!lf) {
      throw new UsageError(`${basename(abs)} .layers[${i}]: layer fragment "${ref}" not found`, {
        hint: `looked beside the recipe, in its layers/ folder and in ${builtinLayersDir()}; fragments are YAML files like layers/distro/debian.yaml`,
      });
    }
    const frag = await parseYamlFile(lf, LayerFile);
    if (frag.bootstrap) {
      if (bootstrap || recipe.from) {
        throw new UsageError(`${lf}: a second base: this fragment has "bootstrap" but the recipe already has ${recipe.from ? '"from"' : `a bootstrap (${bootstrap!.from})`}`, {
          hint: 'a recipe has exactly one base: one bootstrap or one from',
        });
      }
      bootstrap = { ...frag.bootstrap, from: relative(process.cwd(), lf) };
    }
    const body = bodyOf(frag);
    const name = /\.ya?ml$/.test(ref) ? ref : `${ref}.yaml`;
    layers.push({ name, file: lf, body, inputs: await fileDigests(body, dirname(lf), lf), carriesBootstrap: frag.bootstrap !== undefined });
  }
  const own = bodyOf(recipe);
  if (!bodyIsEmpty(own)) layers.push({ name: `${basename(abs)}`, file: abs, body: own, inputs: await fileDigests(own, dirname(abs), abs) });
  if (!bootstrap && !recipe.from) {
    throw new UsageError(`${basename(abs)}: no base: give "bootstrap:" (a new Debian tree) or "from:" (an image to derive from)`, {
      hint: 'e.g. bootstrap: {suite: bookworm}  or  layers: [distro/debian-bookworm]',
    });
  }
  if (bootstrap && recipe.from) {
    throw new UsageError(`${basename(abs)}: both "bootstrap" and "from" given; a recipe has exactly one base`);
  }
  return { file: abs, recipe, layers, bootstrap };
}

/**
 * A recipe given as an object rather than a file (`ib derive` builds one from its flags), validated
 * by the same schema. `source:` paths are relative to `baseDir`.
 */
export async function inlineRecipe(value: unknown, baseDir: string, what = 'command line'): Promise<LoadedRecipe> {
  const res = Recipe.safeParse(value);
  if (!res.success) {
    const lines = res.error.issues.slice(0, 8).map((i) => `${pathToString(i.path as PropertyKey[])}: ${i.message}`);
    throw new UsageError(`${what}: invalid:\n  ${lines.join('\n  ')}`);
  }
  const recipe = res.data;
  const own = bodyOf(recipe);
  const file = join(baseDir, `<${what}>`);
  const layers: LoadedLayer[] = bodyIsEmpty(own) ? [] : [{ name: what, file, body: own, inputs: await fileDigests(own, baseDir, what) }];
  return { file, recipe, layers, bootstrap: recipe.bootstrap ? { ...recipe.bootstrap, from: what } : undefined };
}
