/**
 * The recipe schema: the single source of the Recipe type (z.infer), its defaults, and the JSON
 * Schema that `ib schema` prints. Every object is strict so a misspelled key is an error.
 */
import { z } from 'zod';
import { splitUriAuth, uriAuthProblem } from './uri-auth.js';

const PackageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9]+)?(=[A-Za-z0-9.+~:\-]+)?$/, 'a Debian package name like "htop" or "htop=3.2.2-2"');

const AbsPath = z.string().regex(/^\/[^\0]*$/, 'an absolute path like /etc/motd').refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

// Strings only: YAML 1.2 reads `mode: 0644` as the decimal number 644, a silent wrong mode.
const Mode = z.string({ error: 'an octal mode as a string, like "0644" (quoted: YAML reads 0644 as decimal)' }).regex(/^0?[0-7]{3,4}$/, 'an octal mode like "0644"');

export const Bootstrap = z
  .object({
    distro: z.enum(['debian']).default('debian').describe('distribution; only debian for now'),
    suite: z.string().default('bookworm'),
    mirror: z
      .string()
      .url()
      // mmdebstrap writes the mirror into the image's sources.list: credentials would ship in it.
      .refine((u) => !splitUriAuth(u).auth, 'no user:password@ here: the bootstrap mirror is written into the image; give a private repository under repositories:')
      .optional()
      .describe('defaults to the host apt mirror, or http://deb.debian.org/debian'),
    variant: z.enum(['essential', 'required', 'minbase', 'buildd', 'important', 'standard', 'apt']).default('apt'),
    components: z.array(z.string()).default(['main']),
    architecture: z.string().default('amd64'),
    /** Extra suites whose sources go into the tree, e.g. bookworm-updates, bookworm-security. */
    extraSuites: z.array(z.string()).default([]),
  })
  .strict();
export type Bootstrap = z.infer<typeof Bootstrap>;

export const Repository = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a file-name-safe name'),
    /** May carry `user:password@`: used for apt's auth.conf.d during the build, never kept in the image. */
    uri: z.string().url().superRefine((u, ctx) => {
      const problem = uriAuthProblem(u);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    suites: z.array(z.string()).min(1),
    components: z.array(z.string()).default(['main']),
    /** Path (relative to the recipe) or inline ASCII-armoured key; becomes `Signed-By`. */
    signedBy: z.string().optional(),
  })
  .strict();

export const FileSpec = z
  .object({
    path: AbsPath,
    content: z.string().optional(),
    /** Relative to the file that declares it. */
    source: z.string().optional(),
    mode: Mode.optional(),
    owner: z.string().regex(/^\d+:\d+$|^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/, '"uid:gid" or "user:group"').optional(),
    /** A symlink instead of a file. */
    symlink: z.string().optional(),
    /** A directory instead of a file. */
    directory: z.boolean().optional(),
  })
  .strict()
  .refine((f) => [f.content !== undefined, f.source !== undefined, f.symlink !== undefined, f.directory === true].filter(Boolean).length === 1, {
    message: 'give exactly one of content, source, symlink or directory: true',
  });
export type FileSpec = z.infer<typeof FileSpec>;

export const User = z
  .object({
    name: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
    uid: z.number().int().min(0).optional(),
    gid: z.number().int().min(0).optional(),
    groups: z.array(z.string()).default([]),
    shell: z.string().default('/bin/bash'),
    home: z.string().optional(),
    /** A crypt(3) hash (`openssl passwd -6`), never a clear-text password. `!` locks the account. */
    password: z.string().optional(),
    sshKeys: z.array(z.string()).default([]),
    system: z.boolean().default(false),
  })
  .strict();
export type User = z.infer<typeof User>;

export const Group = z.object({ name: z.string().regex(/^[a-z_][a-z0-9_-]*$/), gid: z.number().int().min(0).optional(), system: z.boolean().default(false) }).strict();
export type Group = z.infer<typeof Group>;

export const Services = z
  .object({
    enable: z.array(z.string()).default([]),
    disable: z.array(z.string()).default([]),
    mask: z.array(z.string()).default([]),
  })
  .strict();

export const Packages = z
  .object({
    install: z.array(PackageName).default([]),
    remove: z.array(PackageName).default([]),
  })
  .strict();

/** What a layer fragment may say: everything that changes a tree, nothing about the base. */
export const LayerBody = z
  .object({
    description: z.string().optional(),
    repositories: z.array(Repository).default([]),
    packages: Packages.optional(),
    files: z.array(FileSpec).default([]),
    groups: z.array(Group).default([]),
    users: z.array(User).default([]),
    services: Services.optional(),
    hostname: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/).optional(),
    timezone: z.string().optional(),
    locale: z.string().optional(),
    keyboard: z.string().optional(),
    kernel: z.object({ cmdline: z.array(z.string()).default([]) }).strict().optional(),
    run: z.array(z.string()).default([]),
  })
  .strict();
export type LayerBody = z.infer<typeof LayerBody>;

export const Outputs = z
  .object({
    ostree: z.object({ repo: z.string().optional(), branch: z.string().optional() }).strict().optional(),
    'bootable-container': z.object({ tag: z.string().optional(), push: z.string().optional(), maxLayers: z.number().int().min(1).max(128).optional() }).strict().optional(),
    disk: z
      .object({
        format: z.enum(['raw', 'qcow2', 'vmdk', 'vhd']).default('qcow2'),
        size: z.string().optional(),
        boot: z.array(z.enum(['bios', 'uefi'])).default(['bios', 'uefi']),
        ostree: z.boolean().default(false),
        output: z.string().optional(),
      })
      .strict()
      .optional(),
    iso: z.object({ label: z.string().optional(), compression: z.enum(['zstd', 'xz']).default('zstd'), output: z.string().optional() }).strict().optional(),
  })
  .strict();

export const Recipe = LayerBody.extend({
  name: z.string().regex(/^[a-z0-9][a-z0-9._/-]*$/, 'lower-case letters, digits, . _ - /'),
  bootstrap: Bootstrap.optional(),
  from: z.string().optional().describe('an image reference to derive from'),
  /** Fragment files under layers/, each one OCI layer, in order. */
  layers: z.array(z.string()).default([]),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  sourceDateEpoch: z.number().int().nonnegative().optional(),
  outputs: Outputs.optional(),
}).strict();
export type Recipe = z.infer<typeof Recipe>;
export type RecipeInput = z.input<typeof Recipe>;

/** A layer fragment file: a partial recipe. It may also carry the base (a distro fragment). */
export const LayerFile = LayerBody.extend({
  bootstrap: Bootstrap.optional(),
}).strict();
export type LayerFile = z.infer<typeof LayerFile>;

export function recipeJsonSchema(): unknown {
  return z.toJSONSchema(Recipe, { io: 'input', unrepresentable: 'any' });
}
