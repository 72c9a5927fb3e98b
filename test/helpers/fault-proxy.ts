/**
 * A real TCP proxy on 127.0.0.1 in front of a test registry that injects the failures networks
 * and registries really produce: a canned 500 or 429 (with Retry-After) instead of forwarding, a
 * connection reset before a request's body, after N bytes of it, or after N bytes of the answer.
 * It parses just enough HTTP/1.1 (request heads, Content-Length bodies) to know which request
 * the bytes belong to, and counts the body bytes it forwarded per request, so tests can prove
 * that a resumed upload re-sent less than the whole blob.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Body bytes of this request forwarded to the registry. */
  bodyBytes: number;
  /** Response bytes (head included) passed back to the client. */
  responseBytes: number;
  fault?: string;
}

export type Fault =
  | { respond: { status: number; headers?: Record<string, string>; body?: string } }
  | { resetBeforeBody: true }
  | { resetAfterBodyBytes: number }
  | { resetAfterResponseBytes: number }
  /** Pass N bytes of the answer (head included), then go silent with the connection open. */
  | { stallAfterResponseBytes: number };

export interface FaultRule {
  method?: string;
  path?: RegExp;
  /** How many matching requests get the fault (then the rule is spent). */
  times: number;
  /** Skip this many matching requests before the first fault. */
  skip?: number;
  fault: Fault;
}

export interface FaultProxy {
  address: string;
  requests: ProxiedRequest[];
  addRule(rule: FaultRule): void;
  clearRules(): void;
  /** Body bytes forwarded for requests whose path matches. */
  bodyBytes(method: string, path: RegExp): number;
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = { 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const rules: (FaultRule & { seen: number })[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();

  const pick = (method: string, path: string): { rule: FaultRule; name: string } | undefined => {
    for (const r of rules) {
      if (r.times <= 0) continue;
      if (r.method && r.method !== method) continue;
      if (r.path && !r.path.test(path)) continue;
      r.seen++;
      if (r.seen <= (r.skip ?? 0)) continue;
      r.times--;
      return { rule: r, name: Object.keys(r.fault)[0]! };
    }
    return undefined;
  };

  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    let upstream: Socket | undefined;
    let pending = Buffer.alloc(0);
    let inBody = false;
    let bodyLeft = 0;
    let raw = false;
    let current: ProxiedRequest | undefined;
    let mode: 'forward' | 'discard' = 'forward';
    let resetAfterBody: number | undefined;
    let resetAfterResponse: number | undefined;
    let stallAfterResponse: number | undefined;
    let dead = false;

    const cut = () => {
      client.resetAndDestroy();
      upstream?.resetAndDestroy();
    };
    const kill = () => {
      if (dead) return;
      dead = true;
      cut();
    };
    const up = (): Socket => {
      if (upstream) return upstream;
      const u = createConnection({ host, port });
      sockets.add(u);
      u.on('close', () => {
        sockets.delete(u);
        if (!dead) client.end();
      });
      u.on('error', () => kill());
      u.on('data', (chunk: Buffer) => {
        if (dead) return;
        const req = current;
        if (req && stallAfterResponse !== undefined && req.responseBytes + chunk.length > stallAfterResponse) {
          // Silence: the client's timeout has to notice. The connection stays open until it gives up.
          const n = Math.max(0, stallAfterResponse - req.responseBytes);
          req.responseBytes += n;
          dead = true;
          client.write(chunk.subarray(0, n));
          u.pause();
          return;
        }
        if (req && resetAfterResponse !== undefined && req.responseBytes + chunk.length > resetAfterResponse) {
          const n = Math.max(0, resetAfterResponse - req.responseBytes);
          req.responseBytes += n;
          dead = true;
          client.write(chunk.subarray(0, n), () => setTimeout(cut, 50));
          return;
        }
        if (req) req.responseBytes += chunk.length;
        client.write(chunk);
      });
      upstream = u;
      return u;
    };

    const pump = () => {
      while (!dead && pending.length > 0) {
        if (raw) {
          up().write(pending);
          pending = Buffer.alloc(0);
          return;
        }
        if (!inBody) {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = pending.subarray(0, end + 4);
          pending = pending.subarray(end + 4);
          const lines = head.toString('latin1').split('\r\n');
          const [method = '', path = ''] = lines[0]!.split(' ');
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
          }
          current = { method, path, bodyBytes: 0, responseBytes: 0 };
          requests.push(current);
          bodyLeft = Number(headers.get('content-length') ?? 0);
          // Chunked bodies are not parsed: pass the rest of this connection through untouched.
          if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) raw = true;
          inBody = bodyLeft > 0;
          mode = 'forward';
          resetAfterBody = undefined;
          resetAfterResponse = undefined;
          stallAfterResponse = undefined;
          const f = pick(method, path);
          if (f) current.fault = f.name;
          const fault = f?.rule.fault;
          if (fault && 'resetBeforeBody' in fault) {
            kill();
            return;
          }
          if (fault && 'respond' in fault) {
            mode = 'discard';
            const body = fault.respond.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.respond.status}` }] });
            const hdrs = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...fault.respond.headers };
            client.write(`HTTP/1.1 ${fault.respond.status} ${STATUS_TEXT[fault.respond.status] ?? 'Injected'}\r\n` +
              Object.entries(hdrs).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n' + body);
            continue;
          }
          if (fault && 'resetAfterBodyBytes' in fault) resetAfterBody = fault.resetAfterBodyBytes;
          if (fault && 'resetAfterResponseBytes' in fault) resetAfterResponse = fault.resetAfterResponseBytes;
          if (fault && 'stallAfterResponseBytes' in fault) stallAfterResponse = fault.stallAfterResponseBytes;
          up().write(head);
          continue;
        }
        const n = Math.min(bodyLeft, pending.length);
        const part = pending.subarray(0, n);
        pending = pending.subarray(n);
        bodyLeft -= n;
        if (bodyLeft === 0) inBody = false;
        if (mode === 'discard') continue;
        const req = current!;
        if (resetAfterBody !== undefined && req.bodyBytes + n > resetAfterBody) {
          const k = Math.max(0, resetAfterBody - req.bodyBytes);
          req.bodyBytes += k;
          const u = up();
          dead = true;
          // Let the partial body reach the registry before both sides are cut.
          u.write(part.subarray(0, k), () => setTimeout(cut, 50));
          return;
        }
        req.bodyBytes += n;
        up().write(part);
      }
    };

    client.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      pump();
    });
    client.on('error', () => kill());
    client.on('end', () => upstream?.end());
    client.on('close', () => upstream?.destroy());
  });

  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    address,
    requests,
    addRule: (r) => void rules.push({ ...r, seen: 0 }),
    clearRules: () => void rules.splice(0),
    bodyBytes: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).reduce((a, r) => a + r.bodyBytes, 0),
    close: () => new Promise<void>((res) => {
      for (const s of sockets) s.destroy();
      server.close(() => res());
    }),
  };
}
