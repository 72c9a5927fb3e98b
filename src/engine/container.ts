/**
 * A step container: started from a stack image with no network, kept alive by `sleep infinity`,
 * told what to do with exec (one exec per command, so each gets its own exit code and output),
 * asked what changed (`docker diff`), then removed. Nothing in it outlives the step.
 */
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { IbError, wrap } from '../errors.js';
import { debug } from '../log.js';
import { formatCommand, type RunResult } from '../exec/run.js';
import type { Engine } from './engine.js';

export interface ContainerBind {
  /** Host path. */
  src: string;
  /** Absolute path in the container. */
  dst: string;
  readonly?: boolean;
}

export interface ContainerSpec {
  image: string;
  hostname: string;
  binds: ContainerBind[];
  /** Mount point → tmpfs options (`mode=755`). */
  tmpfs: Record<string, string>;
}

export type ChangeKind = 'modified' | 'added' | 'deleted';

export interface Change {
  /** Absolute path in the container. */
  path: string;
  kind: ChangeKind;
}

const KINDS: Record<number, ChangeKind> = { 0: 'modified', 1: 'added', 2: 'deleted' };

/** `docker create` arguments of a step container: no network, nothing pulled, nothing published. */
export function containerOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    Image: spec.image,
    Cmd: ['sleep', 'infinity'],
    Hostname: spec.hostname,
    // The image's own entrypoint (if a base image has one) must not wrap `sleep`.
    Entrypoint: [],
    User: '0:0',
    WorkingDir: '/',
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      Binds: spec.binds.map((b) => `${b.src}:${b.dst}${b.readonly ? ':ro' : ''}`),
      Tmpfs: spec.tmpfs,
      AutoRemove: false,
    },
  };
}

class Collector extends Writable {
  private readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.parts.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.parts).toString('utf8');
  }
}

export class StepContainer {
  private constructor(private readonly engine: Engine, readonly container: Docker.Container) {}

  get id(): string {
    return this.container.id;
  }

  static async start(engine: Engine, spec: ContainerSpec): Promise<StepContainer> {
    let c: Docker.Container | undefined;
    try {
      c = await engine.docker.createContainer(containerOptions(spec));
      await c.start();
      debug(`engine: container ${c.id.slice(0, 12)} from ${spec.image} (network none)`);
      return new StepContainer(engine, c);
    } catch (e) {
      await c?.remove({ force: true }).catch(() => undefined);
      throw wrap(`starting a step container from ${spec.image}`, e);
    }
  }

  /** Run a command in the container; a non-zero exit is a result, not an error. */
  async exec(argv: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
    debug(`+ [container ${this.id.slice(0, 12)}] ${formatCommand(argv[0]!, argv.slice(1))}`);
    try {
      const exec = await this.container.exec({
        Cmd: [...argv],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        AttachStdout: true,
        AttachStderr: true,
        WorkingDir: '/',
        User: '0:0',
      });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out = new Collector();
      const err = new Collector();
      await new Promise<void>((res, rej) => {
        this.engine.docker.modem.demuxStream(stream, out, err);
        stream.on('end', res);
        stream.on('close', res);
        stream.on('error', rej);
      });
      // The stream can end a moment before the engine records the exit code.
      for (let i = 0; ; i++) {
        const info = await exec.inspect();
        if (!info.Running && info.ExitCode !== null) return { stdout: out.text(), stderr: err.text(), exitCode: info.ExitCode };
        if (i > 200) throw new IbError(`the engine reports ${argv[0]} as still running after its output ended`);
        await new Promise((r) => setTimeout(r, 25));
      }
    } catch (e) {
      throw wrap(`running ${argv[0]} in the step container`, e);
    }
  }

  /** Like exec, but a non-zero exit throws with the tail of the output. */
  async execOk(argv: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
    const r = await this.exec(argv, env);
    if (r.exitCode !== 0) {
      const tail = (r.stderr || r.stdout).trim().split('\n').slice(-12).join('\n');
      throw new IbError(`\`${formatCommand(argv[0]!, argv.slice(1)).slice(0, 300)}\` in the step container returned exit code ${r.exitCode}${tail ? `:\n${tail}` : ''}`);
    }
    return r;
  }

  /** What the container changed in its image (`docker diff`), parents before children. */
  async changes(): Promise<Change[]> {
    let raw: unknown = await this.container.changes();
    // dockerode hands back the undecoded body when it is `null` (no changes at all).
    if (Buffer.isBuffer(raw) || typeof raw === 'string') raw = JSON.parse(raw.toString());
    return ((raw ?? []) as { Path: string; Kind: number }[]).map((c) => ({ path: c.Path, kind: KINDS[c.Kind] ?? 'modified' })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async remove(): Promise<void> {
    await this.container.remove({ force: true, v: true }).catch((e: unknown) => {
      if ((e as { statusCode?: number }).statusCode !== 404) throw wrap(`removing step container ${this.id.slice(0, 12)}`, e);
    });
  }
}
