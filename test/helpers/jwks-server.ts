/**
 * A fault-injecting key-set server on 127.0.0.1:0 for tests: serves a JWKS (and optional metadata documents)
 * and can be made to go down, hang, drip bytes, answer any status, garbage or a huge body, redirect, or reset
 * connections. Counts hits per path. Always stop it with `close()` in afterAll.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How a path answers. */
export type Fault =
  | { type: 'ok' }
  | { type: 'status'; status: number; body?: string }
  | { type: 'hang' }
  | { type: 'drip'; intervalMs: number; body?: string }
  | { type: 'raw'; body: string; contentType?: string }
  | { type: 'redirect'; location: string; status?: number }
  | { type: 'huge'; bytes: number; declareLength?: boolean }
  | { type: 'reset' }
  | { type: 'delay'; ms: number };

/** A running key-set server. */
export interface JwksServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The JWKS URL (`${url}/jwks.json`). */
  readonly jwksUrl: string;
  /** Sets the JSON document served at `path` (default the JWKS path); `undefined` removes it (404). */
  set(doc: unknown, path?: string): void;
  /** Makes `path` (default the JWKS path) answer with a fault; `{ type: 'ok' }` restores it. */
  fault(fault: Fault, path?: string): void;
  /** Clears every fault and document, then serves `doc` at the JWKS path (hit counts are kept). */
  reset(doc: unknown): void;
  /** Requests seen for `path` (default the JWKS path); `'*'` for every path. */
  hits(path?: string): number;
  /** Stops listening and drops every connection: clients get "connection refused". */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Stops the server for good (also ends hanging and dripping responses). */
  close(): Promise<void>;
}

const JWKS_PATH = '/jwks.json';

/** Starts a key-set server serving `initial` at `/jwks.json`. */
export async function startJwksServer(initial: unknown = { keys: [] }): Promise<JwksServer> {
  const docs = new Map<string, unknown>([[JWKS_PATH, initial]]);
  const faults = new Map<string, Fault>();
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let total = 0;
  let port = 0;
  let listening = false;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  function serveDoc(path: string, res: ServerResponse): void {
    if (!docs.has(path)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    const body = JSON.stringify(docs.get(path));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    total++;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const f = faults.get(path) ?? { type: 'ok' };
    switch (f.type) {
      case 'ok':
        return serveDoc(path, res);
      case 'status':
        res.writeHead(f.status, { 'content-type': 'application/json' }).end(f.status === 204 || f.status === 304 ? undefined : (f.body ?? '{"error":"fault"}'));
        return;
      case 'hang':
        return; // never answers; close() drops the socket
      case 'drip': {
        const body = f.body ?? JSON.stringify(docs.get(path) ?? {});
        res.writeHead(200, { 'content-type': 'application/json' });
        let i = 0;
        const step = () => {
          if (res.destroyed || i >= body.length) return void res.end();
          res.write(body[i++]);
          later(f.intervalMs, step);
        };
        return step();
      }
      case 'raw':
        res.writeHead(200, { 'content-type': f.contentType ?? 'application/json' }).end(f.body);
        return;
      case 'redirect':
        res.writeHead(f.status ?? 302, { location: f.location }).end();
        return;
      case 'huge': {
        // A syntactically valid JSON document of the given size: {"keys":[],"pad":"xxxx..."}
        const head = '{"keys":[],"pad":"';
        const pad = 'x'.repeat(Math.max(0, f.bytes - head.length - 2));
        const body = `${head}${pad}"}`;
        res.writeHead(200, { 'content-type': 'application/json', ...(f.declareLength === false ? {} : { 'content-length': Buffer.byteLength(body) }) });
        res.end(body);
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'delay':
        later(f.ms, () => (res.destroyed ? undefined : serveDoc(path, res)));
        return;
    }
  }

  const server = createServer(handle);
  server.keepAliveTimeout = 1000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        listening = true;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
    });

  await listen();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    jwksUrl: `${url}${JWKS_PATH}`,
    set: (doc, path = JWKS_PATH) => void (doc === undefined ? docs.delete(path) : docs.set(path, doc)),
    fault: (f, path = JWKS_PATH) => void (f.type === 'ok' ? faults.delete(path) : faults.set(path, f)),
    reset: (doc) => {
      faults.clear();
      docs.clear();
      docs.set(JWKS_PATH, doc);
    },
    hits: (path = JWKS_PATH) => (path === '*' ? total : (hits.get(path) ?? 0)),
    down: stop,
    up: listen,
    close: stop,
  };
}

/** What a {@link recordTelemetry} saw. */
export interface TelemetryRecord {
  events: Record<string, unknown>[];
  fetches: { issuer: string; outcome: string; keys: number; message?: string }[];
  warnings: { key: string; msg: string }[];
  keySets: { keys: number; age: number | undefined }[];
}

/**
 * A Telemetry (see packages/core/src/lib/telemetry.ts) that records key-set fetches, events and warnings.
 * Structurally typed so test/helpers does not import package internals.
 */
export function recordTelemetry(): TelemetryRecord & {
  accepted(): void; rejected(): void; scopeDenied(): void; cacheEntries(): void;
  jwksFetch(e: { issuer: string; outcome: string; keys: number; message?: string }): void;
  event(e: object): void;
  keySet(issuer: string, keys: number, age: number | undefined): void;
  warnOnce(key: string, obj: object, msg: string): void;
} {
  const rec: TelemetryRecord = { events: [], fetches: [], warnings: [], keySets: [] };
  const warned = new Set<string>();
  return {
    ...rec,
    accepted() {}, rejected() {}, scopeDenied() {}, cacheEntries() {},
    jwksFetch: (e) => void rec.fetches.push(e),
    event: (e) => void rec.events.push(e as Record<string, unknown>),
    keySet: (_i, keys, age) => void rec.keySets.push({ keys, age }),
    warnOnce: (key, _obj, msg) => {
      if (!warned.has(key)) rec.warnings.push({ key, msg });
      warned.add(key);
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles `p` and returns the TokenError code (or 'resolved' / 'other:<text>'), with the elapsed ms. */
export async function outcome(p: Promise<unknown>): Promise<{ code: string; ms: number; retryAfter?: number }> {
  const start = Date.now();
  try {
    await p;
    return { code: 'resolved', ms: Date.now() - start };
  } catch (err) {
    const e = err as { name?: string; code?: string; retryAfter?: number };
    const ms = Date.now() - start;
    return e?.name === 'TokenError' && typeof e.code === 'string' ? { code: e.code, ms, ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter }) } : { code: `other:${String(err)}`, ms };
  }
}

/** Polls `cond` every 10 ms until it holds or `ms` pass; returns whether it held. */
export async function until(cond: () => boolean, ms = 1000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= end) return false;
    await sleep(10);
  }
  return true;
}
