/**
 * Image references in the containers-ecosystem forms users already type:
 *   docker://HOST/REPO[:TAG][@DIGEST]   a registry (the default for a name whose first part is a host)
 *   NAME[:TAG][@DIGEST]                  the local store (a bare name without a registry host)
 *   oci:DIR[:TAG]                        an OCI image layout directory
 *   docker-daemon:NAME[:TAG]             a local Docker/Podman engine
 * Registry names are normalised like docker does (`debian` → `docker.io/library/debian:latest`),
 * following distribution's reference grammar
 * (https://github.com/distribution/reference/blob/main/regexp.go).
 */
import { UsageError } from '../errors.js';

export interface DockerRef {
  transport: 'docker';
  /** Host[:port] as written, `docker.io` for Docker Hub. */
  registry: string;
  /** Path inside the registry, e.g. `library/debian`, `acme/base`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export interface StoreRef {
  transport: 'store';
  /** Repository-like name, e.g. `acme/base`. */
  name: string;
  tag?: string;
  digest?: string;
}

export interface OciRef {
  transport: 'oci';
  dir: string;
  /** The `org.opencontainers.image.ref.name` in the layout's index.json. */
  tag?: string;
}

export interface DaemonRef {
  transport: 'docker-daemon';
  /** Normalised like a registry name: `docker.io/library/debian`, `localhost:5000/acme/base`. */
  name: string;
  tag?: string;
  digest?: string;
}

export type ImageRef = DockerRef | StoreRef | OciRef | DaemonRef;

export const VALID_FORMS =
  'valid forms: docker://HOST/REPO[:TAG][@DIGEST], HOST/REPO[:TAG] (a name with a registry host), ' +
  'NAME[:TAG] (the local store), oci:DIR[:TAG], docker-daemon:NAME[:TAG]';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const NAME_MAX = 255;

export const DOCKER_HUB = 'docker.io';

function invalid(input: string, reason: string): UsageError {
  return new UsageError(`invalid image reference "${input}": ${reason}`, { hint: VALID_FORMS });
}

/** distribution's rule: the first part is a host if it has a dot or a port, or is `localhost`. */
function looksLikeHost(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
}

interface NameParts {
  name: string;
  tag?: string;
  digest?: string;
}

/** Split `name[:tag][@digest]` and check the tag and digest; the name is checked by the caller. */
function splitNameTagDigest(input: string, s: string): NameParts {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      throw invalid(input, `bad digest "${digest}" (expected sha256: and 64 lowercase hex digits)`);
    }
  }
  let tag: string | undefined;
  // A colon after the last slash is a tag; one before it is a registry port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw invalid(input, `bad tag "${tag}" (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
    }
  }
  if (rest === '') throw invalid(input, 'empty name');
  if (rest.length > NAME_MAX) throw invalid(input, `name longer than ${NAME_MAX} characters`);
  return { name: rest, tag, digest };
}

function checkPath(input: string, path: string): void {
  if (PATH_RE.test(path)) return;
  if (PATH_RE.test(path.toLowerCase())) throw invalid(input, 'repository name must be lowercase');
  throw invalid(input, `bad repository name "${path}" (lowercase letters, digits, separators '.', '_', '__', '-' and '/')`);
}

/** `[docker://]HOST/REPO[:TAG][@DIGEST]`, normalised; also what `--push` and `--cache-to` take. */
export function parseDockerRef(input: string): DockerRef {
  const s = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  if (s.startsWith('//') || s === '') throw invalid(input, 'empty name');
  const { name, tag, digest } = splitNameTagDigest(input, s);
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let registry = DOCKER_HUB;
  let repository = name;
  if (first && looksLikeHost(first)) {
    if (!DOMAIN_RE.test(first)) throw invalid(input, `bad registry host "${first}"`);
    registry = first;
    repository = name.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  checkPath(input, repository);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  return { transport: 'docker', registry, repository, ...defaultTag(tag, digest) };
}

function defaultTag(tag: string | undefined, digest: string | undefined): { tag?: string; digest?: string } {
  const out: { tag?: string; digest?: string } = {};
  if (tag !== undefined || digest === undefined) out.tag = tag ?? 'latest';
  if (digest !== undefined) out.digest = digest;
  return out;
}

function parseStoreRef(input: string): StoreRef {
  const { name, tag, digest } = splitNameTagDigest(input, input);
  checkPath(input, name);
  return { transport: 'store', name, ...defaultTag(tag, digest) };
}

function parseOciRef(input: string): OciRef {
  // containers/image splits at the first colon too, so a DIR cannot contain one.
  const body = input.slice('oci:'.length);
  const colon = body.indexOf(':');
  const dir = colon < 0 ? body : body.slice(0, colon);
  const tag = colon < 0 ? undefined : body.slice(colon + 1);
  if (dir === '') throw invalid(input, 'oci: needs a directory, e.g. oci:./out:base');
  if (tag !== undefined && !/^[A-Za-z0-9._:@/+-]+$/.test(tag)) throw invalid(input, `bad oci layout tag "${tag}"`);
  return tag ? { transport: 'oci', dir, tag } : { transport: 'oci', dir };
}

function parseDaemonRef(input: string): DaemonRef {
  const body = input.slice('docker-daemon:'.length);
  if (body === '') throw invalid(input, 'docker-daemon: needs an image name, e.g. docker-daemon:debian:12');
  if (body.startsWith('docker://')) throw invalid(input, 'docker-daemon: takes an image name, not a docker:// reference');
  const d = parseDockerRef(body);
  const out: DaemonRef = { transport: 'docker-daemon', name: `${d.registry}/${d.repository}` };
  if (d.tag !== undefined) out.tag = d.tag;
  if (d.digest !== undefined) out.digest = d.digest;
  return out;
}

/** Other transports of the containers ecosystem: named so that they are refused, not read as a store name. */
const UNSUPPORTED = ['containers-storage', 'docker-archive', 'oci-archive', 'dir', 'tarball', 'ostree', 'sif'];

/**
 * Parse any reference ib accepts. A bare name goes to the local store unless its first
 * component is a registry host, as with podman and skopeo.
 */
export function parseRef(input: string): ImageRef {
  if (input.startsWith('docker://')) return parseDockerRef(input);
  if (input.startsWith('oci:')) return parseOciRef(input);
  if (input.startsWith('docker-daemon:')) return parseDaemonRef(input);
  const prefix = /^([a-z][a-z0-9-]*):/.exec(input)?.[1];
  if (prefix && UNSUPPORTED.includes(prefix)) throw invalid(input, `unsupported transport "${prefix}:"`);
  if (input.includes('://')) throw invalid(input, `unsupported transport "${input.slice(0, input.indexOf('://') + 3)}"`);
  const slash = input.indexOf('/');
  const first = slash < 0 ? '' : input.slice(0, slash);
  if (first && looksLikeHost(first)) return parseDockerRef(input);
  return parseStoreRef(input);
}

/** The canonical string of a reference (what `ib` prints, and `parseRef` reads back). */
export function formatRef(ref: ImageRef): string {
  switch (ref.transport) {
    case 'docker':
      return `docker://${ref.registry}/${ref.repository}${suffix(ref)}`;
    case 'store':
      return `${ref.name}${suffix(ref)}`;
    case 'oci':
      return `oci:${ref.dir}${ref.tag ? `:${ref.tag}` : ''}`;
    case 'docker-daemon':
      return `docker-daemon:${ref.name}${suffix(ref)}`;
  }
}

function suffix(r: { tag?: string; digest?: string }): string {
  return `${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The name under which a pulled registry image is kept in the local store (podman does the same). */
export function storeNameOf(ref: DockerRef): string {
  return `${ref.registry}/${ref.repository}${suffix(ref)}`;
}

/** What the registry API addresses: the digest when known, else the tag. */
export function manifestReference(ref: DockerRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** Docker Hub's API host differs from its name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/** Hosts where plain http is the default (the loopback range): no TLS on a local test registry. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':')[0]!;
  return host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '[::1]';
}
