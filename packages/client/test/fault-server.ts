/**
 * A fault-injecting OAuth token endpoint on 127.0.0.1:0 for the client's tests. Each request takes the next
 * fault from a queue (or the default one) and records what the client sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createTokenProvider, type TokenProvider, type TokenProviderOptions } from '@tokenguard/client';
import { listen, type TestServer } from '../../../test/helpers/http';
import { makeKey, signToken, type TestKey } from '../../../test/helpers/keys';

/** How the endpoint answers one request. */
export type Fault =
  /** A JWT (or opaque token) with `ttl` seconds of life; `expiresIn` overrides the `expires_in` sent (`'omit'` leaves it out). */
  | { kind: 'ok'; ttl?: number; opaque?: boolean; expiresIn?: unknown; tokenType?: string; delayMs?: number }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'garbage'; body: string; status?: number }
  /** Answers after `ms` (beyond the client's timeout in the tests). */
  | { kind: 'slow'; ms: number }
  /** Sends headers at once, then one byte every `everyMs`, never finishing. */
  | { kind: 'drip'; everyMs: number };

/** One request the endpoint saw. */
export interface SeenRequest {
  at: number;
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: URLSearchParams;
}

export interface FaultServer extends TestServer {
  tokenUrl: string;
  requests: SeenRequest[];
  /** Queues faults for the next requests. */
  queue(...faults: Fault[]): void;
  /** Sets the answer used when the queue is empty. */
  setDefault(fault: Fault): void;
  /** Every token handed out, in order. */
  issued: string[];
  key: TestKey;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the endpoint; the default answer is a 60 s JWT. */
export async function faultServer(initial: Fault = { kind: 'ok', ttl: 60 }): Promise<FaultServer> {
  const key = await makeKey('ES256');
  const faults: Fault[] = [];
  let fallback = initial;
  const requests: SeenRequest[] = [];
  const issued: string[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let n = 0;
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };

  async function answerOk(res: ServerResponse, f: Extract<Fault, { kind: 'ok' }>): Promise<void> {
    const ttl = f.ttl ?? 60;
    const now = Math.floor(Date.now() / 1000);
    const token = f.opaque
      ? `opaque-${++n}-${Math.random().toString(36).slice(2)}`
      : await signToken(key, { iss: 'http://fault.test', sub: 'svc', aud: 'api', iat: now, exp: now + ttl });
    issued.push(token);
    const body: Record<string, unknown> = { access_token: token, token_type: f.tokenType ?? 'Bearer' };
    if (f.expiresIn !== 'omit') body.expires_in = f.expiresIn === undefined ? ttl : f.expiresIn;
    const send = (): void => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    if (f.delayMs) later(f.delayMs, send);
    else send();
  }

  const server = await listen((req, res) => {
    void (async () => {
      const text = await readBody(req);
      requests.push({
        at: Date.now(), method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization,
        contentType: req.headers['content-type'], form: new URLSearchParams(text),
      });
      const f = faults.shift() ?? fallback;
      switch (f.kind) {
        case 'ok':
          return answerOk(res, f);
        case 'status':
          res.writeHead(f.status, { 'content-type': 'application/json', ...f.headers }).end(f.body === undefined ? '' : JSON.stringify(f.body));
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'garbage':
          res.writeHead(f.status ?? 200, { 'content-type': 'application/json' }).end(f.body);
          return;
        case 'slow':
          later(f.ms, () => void answerOk(res, { kind: 'ok' }));
          return;
        case 'drip': {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{');
          const drip = (left: number): void => {
            if (res.destroyed || left === 0) return void res.destroy();
            res.write(' ');
            later(f.everyMs, () => drip(left - 1));
          };
          later(f.everyMs, () => drip(1000)); // bounded: at most 1000 bytes
          return;
        }
      }
    })().catch(() => res.destroy());
  });
  return {
    ...server,
    tokenUrl: `${server.url}/oauth/token`,
    requests,
    issued,
    key,
    queue: (...f) => void faults.push(...f),
    setDefault: (f) => void (fallback = f),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await server.close();
    },
  };
}

/** Fast retry settings so fault tests finish in milliseconds. */
export const FAST = { timeout: '300ms', retry: { retries: 3, minDelay: '10ms', maxDelay: '40ms', maxElapsed: '2s' } } as const;

/** Waits `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Jest wiring for a test file: one fault server for the file, providers made by `make()` closed after each
 * test, the server's records reset and its default answer back to a 60 s JWT.
 */
export function useFaultServer(secret = 'fault-secret-Zq9'): {
  ep: () => FaultServer;
  make: (opts?: Partial<TokenProviderOptions>) => TokenProvider;
} {
  let ep: FaultServer | undefined;
  const providers: TokenProvider[] = [];
  beforeAll(async () => {
    ep = await faultServer();
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    ep!.requests.length = 0;
    ep!.issued.length = 0;
    ep!.setDefault({ kind: 'ok', ttl: 60 });
  });
  afterAll(() => ep?.close());
  return {
    ep: () => ep!,
    make: (opts = {}) => {
      const p = createTokenProvider({ tokenUrl: ep!.tokenUrl, clientId: 'svc', clientSecret: secret, ...FAST, ...opts });
      providers.push(p);
      return p;
    },
  };
}
