/**
 * A private dockerd for tests: its own socket, data root and exec root under a temp dir, no
 * networking set up (`--bridge=none --iptables=false --ip-masq=false`), so it touches nothing
 * of the host's. Debian 12's docker.io (20.10).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from '../../src/exec/run.js';
import { connectEngine } from '../../src/engine/index.js';

export interface TestDockerd {
  /** `unix:///…/docker.sock`, for DOCKER_HOST or EngineOptions.host */
  host: string;
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<TestDockerd> {
  const dir = await mkdtemp(join(tmpdir(), 'ib-dockerd-'));
  const sock = join(dir, 'docker.sock');
  const child = spawn('dockerd', [
    '--host', `unix://${sock}`,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'docker.pid'),
    '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip6tables=false',
  ], { stdout: 'ignore' });
  let exited: unknown;
  const done = child.done.then(() => { exited = new Error('dockerd exited'); }, (e: unknown) => { exited = e; });
  const onExit = () => child.kill();
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    child.kill();
    await done;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  const engine = () => connectEngine({ host: `unix://${sock}` });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw exited;
    try {
      await engine().docker.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error('dockerd did not answer within 60 s');
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { host: `unix://${sock}`, stop };
}
