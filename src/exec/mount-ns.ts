/**
 * A private mount namespace held open by a sleeping child, for work that needs mounts (a
 * read-only view of a tree, a disk's filesystems on loop devices) without ever changing the
 * host's mount table. ib reaches paths inside it through `/proc/<pid>/root/…` and runs tools in
 * it with nsenter. The child runs under `setpriv --pdeathsig KILL`: if ib dies, the namespace
 * goes with it, and so do its mounts and their auto-clearing loop devices.
 */
import { IbError } from '../errors.js';
import { run as defaultRun, spawn, type Run, type RunOptions, type RunResult, type Spawned } from './run.js';

export class MountNamespace {
  private constructor(
    readonly pid: number,
    private readonly holder: Spawned,
    private readonly run: Run,
  ) {}

  static async open(opts: { run?: Run } = {}): Promise<MountNamespace> {
    // `exec` keeps one pid from setpriv to sleep, so $$ is the namespace holder.
    const holder = spawn('setpriv', [
      '--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'echo $$; exec sleep infinity',
    ]);
    holder.done.catch(() => undefined);
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      holder.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) resolve(Number(line));
      });
      holder.done.then(() => reject(new IbError('a private mount namespace exited as it started')), reject);
    });
    return new MountNamespace(pid, holder, opts.run ?? defaultRun);
  }

  /** `inside` (a path in the namespace) as this process reaches it. */
  outside(inside: string): string {
    return `/proc/${this.pid}/root${inside}`;
  }

  /** Run a command inside the namespace. */
  exec(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run('nsenter', ['--target', String(this.pid), '--mount', '--', cmd, ...args], opts);
  }

  /** Start a command inside the namespace with its output streamed (progress bars). */
  spawn(cmd: string, args: readonly string[], opts: RunOptions & { stdout?: 'pipe' | 'ignore' } = {}): Spawned {
    return spawn('nsenter', ['--target', String(this.pid), '--mount', '--', cmd, ...args], opts);
  }

  async close(): Promise<void> {
    this.holder.kill();
    await this.holder.done.catch(() => undefined);
  }
}
