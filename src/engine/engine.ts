/**
 * The Docker/Podman engine API through dockerode: find the socket, load an image archive, save
 * one, inspect and tag. Debian 12's dockerd (20.10) loads only the docker-archive format, so
 * images go in and out as docker-archive tars (archive.ts converts them).
 */
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { IbError, wrap } from '../errors.js';

export interface EngineOptions {
  /** `unix:///path/docker.sock` or a socket path; default $DOCKER_HOST, docker's, then podman's socket. */
  host?: string;
}

export interface Engine {
  docker: Docker;
  socket: string;
}

/** Where the engine listens: explicit, $DOCKER_HOST, /var/run/docker.sock, podman's sockets. */
export function engineSocket(opts: EngineOptions = {}, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = opts.host ?? env.DOCKER_HOST;
  if (explicit) {
    if (explicit.startsWith('unix://')) return explicit.slice('unix://'.length);
    if (explicit.startsWith('/')) return explicit;
    throw new IbError(`engine host ${explicit} is not a unix socket`, { hint: 'ib talks to a local engine only: use unix:///path/to/docker.sock' });
  }
  const candidates = ['/var/run/docker.sock', env.XDG_RUNTIME_DIR ? `${env.XDG_RUNTIME_DIR}/podman/podman.sock` : '', '/run/podman/podman.sock'].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new IbError('no Docker or Podman engine found', {
      hint: `start dockerd (apt-get install docker.io) or podman's API service (podman system service), or set DOCKER_HOST; looked at ${candidates.join(', ')}`,
    });
  }
  return found;
}

export function connectEngine(opts: EngineOptions = {}): Engine {
  const socket = engineSocket(opts);
  return { docker: new Docker({ socketPath: socket }), socket };
}

function engineError(e: unknown, engine: Engine, what: string): IbError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
    return new IbError(`${what}: cannot reach the engine at ${engine.socket} (${code})`, {
      cause: e, hint: code === 'EACCES' ? 'run as root or join the docker group' : 'is dockerd (or podman system service) running?',
    });
  }
  const status = (e as { statusCode?: number }).statusCode;
  // dockerode's 404 text repeats itself ("(HTTP code 404) no such image - no such image: x: No such image: x").
  if (status === 404) return new IbError(`${what}: the engine has no such image`, { hint: '`docker images` (or `podman images`) lists what the engine holds' });
  return wrap(what, e);
}

/** `docker load`: feed a docker-archive tar; returns the engine's "Loaded image: …" lines. */
export async function loadArchive(engine: Engine, tar: Readable): Promise<string[]> {
  let res: NodeJS.ReadableStream;
  try {
    res = await engine.docker.loadImage(tar, { quiet: true });
  } catch (e) {
    throw engineError(e, engine, 'loading the image into the engine');
  }
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(Buffer.from(c as Buffer));
  const out: string[] = [];
  // The answer is a stream of JSON messages; an error arrives as one of them, with status 200.
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    let msg: { stream?: string; error?: string; errorDetail?: { message?: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      out.push(line.trim());
      continue;
    }
    if (msg.error || msg.errorDetail) throw new IbError(`loading the image into the engine: ${msg.errorDetail?.message ?? msg.error}`);
    if (msg.stream?.trim()) out.push(msg.stream.trim());
  }
  return out;
}

/** `docker save NAME`: the image as a docker-archive tar stream. */
export async function saveArchive(engine: Engine, name: string): Promise<Readable> {
  try {
    await engine.docker.getImage(name).inspect();
    return (await engine.docker.getImage(name).get()) as Readable;
  } catch (e) {
    throw engineError(e, engine, `saving ${name} from the engine`);
  }
}

export interface EngineImage {
  id: string;
  repoTags: string[];
}

export async function inspectEngineImage(engine: Engine, name: string): Promise<EngineImage | undefined> {
  try {
    const i = await engine.docker.getImage(name).inspect();
    return { id: i.Id, repoTags: i.RepoTags ?? [] };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw engineError(e, engine, `inspecting ${name} in the engine`);
  }
}

/** docker's short form: `docker.io/library/debian` → `debian`, `docker.io/acme/x` → `acme/x`. */
export function familiarName(name: string): string {
  return name.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}
