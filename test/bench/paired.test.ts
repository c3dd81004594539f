/**
 * The arithmetic of the benchmark's paired rounds (bench/lib/paired.mjs): slices from the paired server's boundary
 * records, and each guard's difference from bare per cycle. bench/ is plain ESM run by node, so the functions are
 * called in a node child process, as the benchmark calls them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const LIB = resolve(__dirname, '..', '..', 'bench', 'lib');
const PAIRED = pathToFileURL(resolve(LIB, 'paired.mjs')).href;

interface Switching {
  guardValid: number;
  guardMissing: number;
  bareMissing: number;
  next: number[];
  requests: number[];
  statuses: Record<string, number>;
  afterCycle: number;
}

/**
 * Runs `body` in a node child process, the way run.mjs drives the paired server: with `common` and `tk` (bench/lib),
 * an RS256 `key`, a valid `token`, a JWKS served here on 127.0.0.1 (`jwks`) and a started bench/http-server.mjs
 * (`server`), all stopped after it; `before` runs first. The body writes its JSON result to stdout.
 */
function withPairedServer<T>(body: string, before = ''): Promise<T> {
  const script = `
    const common = await import(${JSON.stringify(pathToFileURL(resolve(LIB, 'common.mjs')).href)});
    const tk = await import(${JSON.stringify(pathToFileURL(resolve(LIB, 'tokens.mjs')).href)});
    ${before}
    const key = await tk.makeKey('RS256');
    const [token] = await tk.signTokens(key, 1);
    const jwks = await tk.startJwksServer([key]);
    const server = common.startNode('http-server.mjs', [], { stdout: 'ignore' });
    try {
      ${body}
    } finally {
      await common.stop(server);
      await jwks.close();
    }`;
  return new Promise((done, fail) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 }, (err, stdout) => (err ? fail(err) : done(JSON.parse(stdout) as T)));
  });
}

/**
 * Starts the paired server for `framework` with bare and tokenguard and drives it as run.mjs does: `select`, then
 * `cycle` (6 slices of 100 ms) while requests without a token keep coming.
 */
function switching(framework: string): Promise<Switching> {
  return withPairedServer<Switching>(`
      const variants = ['bare', 'tokenguard'].map((guard) => ({ guard, alg: 'RS256', issuer: tk.ISSUER, audience: tk.AUDIENCE, jwksUri: jwks.url, pem: key.pem, jwk: key.jwk }));
      const { port } = await common.ask(server, { type: 'paired-config', framework: ${JSON.stringify(framework)}, variants }, 30000, 'ready');
      const status = async (auth) => {
        const res = await fetch('http://127.0.0.1:' + port + '/', { headers: auth ? { authorization: 'Bearer ' + auth } : {}, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        return res.status;
      };
      const out = {};
      await common.ask(server, { type: 'select', index: 1 });
      out.guardValid = await status(token);
      out.guardMissing = await status();
      await common.ask(server, { type: 'select', index: 0 });
      out.bareMissing = await status();
      let stop = false;
      let sent = 0;
      out.statuses = {};
      const pump = (async () => {
        while (!stop && sent < 20000) {
          const s = await status();
          out.statuses[s] = (out.statuses[s] ?? 0) + 1;
          sent++;
        }
      })();
      const { boundaries } = await common.ask(server, { type: 'cycle', sliceMs: 100, slices: 6 }, 10000);
      stop = true;
      await pump;
      out.next = boundaries.map((b) => b.next);
      out.requests = boundaries.map((b) => b.requests);
      out.afterCycle = await status();
      process.stdout.write(JSON.stringify(out));`);
}

interface BaselineRun {
  info: { commit: string; dirty: boolean };
  coreLink: string;
  bareMissing: number;
  baseline: { valid: number; missing: number; description: string };
  current: { valid: number; missing: number; description: string };
}

/**
 * Snapshots the current build with bench/baseline.mjs into `dir`, marks the snapshot's core (its token_missing
 * description), and serves bare, the snapshot and this build from one paired Fastify server, as run.mjs's baseline
 * group does: each answers a valid token, and a request without one with its own description.
 */
function baselineRun(dir: string): Promise<BaselineRun> {
  const before = `
    const { readFileSync, writeFileSync, readlinkSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { execFileSync } = await import('node:child_process');
    const dir = ${JSON.stringify(dir)};
    execFileSync(process.execPath, [${JSON.stringify(resolve(LIB, '..', 'baseline.mjs'))}, '--out=' + dir], { stdio: 'ignore' });
    const extract = join(dir, 'core', 'dist', 'extract-token.js');
    writeFileSync(extract, readFileSync(extract, 'utf8').replace("'No access token was sent'", "'No access token was sent (baseline)'"));
    const out = { info: JSON.parse(readFileSync(join(dir, 'INFO.json'), 'utf8')), coreLink: readlinkSync(join(dir, 'fastify', 'node_modules', '@tokenguard', 'core')) };`;
  return withPairedServer<BaselineRun>(`
      const variants = ['bare', 'tokenguard-baseline', 'tokenguard'].map((guard) => ({ guard, alg: 'RS256', issuer: tk.ISSUER, audience: tk.AUDIENCE, jwksUri: jwks.url, pem: key.pem, jwk: key.jwk, baselineDir: dir }));
      const { port } = await common.ask(server, { type: 'paired-config', framework: 'fastify', variants }, 30000, 'ready');
      const call = async (auth) => {
        const res = await fetch('http://127.0.0.1:' + port + '/', { headers: auth ? { authorization: 'Bearer ' + auth } : {}, signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: await res.text() };
      };
      const guard = async (index) => {
        await common.ask(server, { type: 'select', index });
        const missing = await call();
        return { valid: (await call(token)).status, missing: missing.status, description: JSON.parse(missing.body).error_description };
      };
      await common.ask(server, { type: 'select', index: 0 });
      out.bareMissing = (await call()).status;
      out.baseline = await guard(1);
      out.current = await guard(2);
      process.stdout.write(JSON.stringify(out));`, before);
}

interface Boundary {
  t: number;
  userUs: number;
  systemUs: number;
  requests: number;
  next: number;
}
interface Cycle {
  cpu: number;
  reqPerSec: number;
  extra: number;
  vsBare: number;
}

/** Runs `expression` (with `m`, the module, in scope) in node and returns its JSON value. */
function run<T>(expression: string): Promise<T> {
  const script = `import(${JSON.stringify(PAIRED)}).then((m) => process.stdout.write(JSON.stringify(${expression})))`;
  return new Promise((done, fail) => {
    execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err, stdout) => (err ? fail(err) : done(JSON.parse(stdout) as T)));
  });
}

/**
 * Boundaries of `slices` slices of 250 ms cycling through `costs.length` variants (variant v costs `costs[v]` µs per
 * request, plus `drift` µs more on every later slice; 1,000 requests per slice unless `requests` says otherwise).
 */
function boundaries(costs: number[], slices: number, drift = 0, requests: (i: number) => number = () => 1000): Boundary[] {
  const out: Boundary[] = [{ t: 0, userUs: 0, systemUs: 0, requests: 0, next: 0 }];
  for (let i = 0; i < slices; i++) {
    const prev = out[out.length - 1]!;
    const n = requests(i);
    const cpu = n * (costs[i % costs.length]! + drift * i);
    out.push({ t: prev.t + 250, userUs: prev.userUs + cpu * 0.6, systemUs: prev.systemUs + cpu * 0.4, requests: prev.requests + n, next: i + 1 < slices ? (i + 1) % costs.length : -1 });
  }
  return out;
}

describe('bench paired rounds', () => {
  it('turns boundary records into slices: variant, requests, CPU per request, requests per second', async () => {
    const slices = await run<{ variant: number; reqs: number; ms: number; cpuPerReq: number; reqPerSec: number }[]>(`m.slicesOf(${JSON.stringify(boundaries([10, 12], 2))})`);
    expect(slices.map((s) => [s.variant, s.reqs, s.ms])).toEqual([[0, 1000, 250], [1, 1000, 250]]);
    expect(slices[0]!.cpuPerReq).toBeCloseTo(10, 9);
    expect(slices[1]!.cpuPerReq).toBeCloseTo(12, 9);
    expect(slices[0]!.reqPerSec).toBeCloseTo(4000, 9);
  });

  it("gives each guard's exact difference from bare, a linear drift of the machine cancelled", async () => {
    // 5 cycles of bare (10 µs), a guard (12 µs) and another (15 µs), every slice 0.3 µs slower than the one before.
    const cycles = await run<Cycle[][]>(`m.pairedCycles(m.slicesOf(${JSON.stringify(boundaries([10, 12, 15], 16, 0.3))}), 3)`);
    expect(cycles).toHaveLength(5);
    for (const c of cycles) {
      expect(c[1]!.extra).toBeCloseTo(2, 9);
      expect(c[2]!.extra).toBeCloseTo(5, 9);
      expect(c[1]!.vsBare).toBeGreaterThan(0);
    }
    // The same slices without drift: the raw CPU of each slice is the variant's own.
    const flat = await run<Cycle[][]>(`m.pairedCycles(m.slicesOf(${JSON.stringify(boundaries([10, 12, 15], 16))}), 3)`);
    expect(flat[0]!.map((x) => x.cpu)).toEqual([10, 12, 15]);
    expect(flat[0]![2]!.vsBare).toBeCloseTo(1, 9);
  });

  it('skips a cycle with a slice that served no request, and needs the closing bare slice', async () => {
    // Slice 4 (the guard of the second cycle) served nothing; 7 slices hold only 2 cycles with a bare slice after them.
    const cycles = await run<Cycle[][]>(`m.pairedCycles(m.slicesOf(${JSON.stringify(boundaries([10, 12, 15], 7, 0, (i) => (i === 4 ? 0 : 1000)))}), 3)`);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]![1]!.extra).toBeCloseTo(2, 9);
  });

  it.each(['express', 'fastify', 'koa'])('switches a real %s server between bare and tokenguard, slice by slice', async (framework) => {
    const r = await switching(framework);
    // select: the guard answers as a guard, bare as bare.
    expect([r.guardValid, r.guardMissing, r.bareMissing]).toEqual([200, 401, 200]);
    // cycle: the slices alternate, and requests without a token got 200 from bare slices and 401 from the guard's.
    expect(r.next).toEqual([0, 1, 0, 1, 0, 1, -1]);
    expect(r.statuses['200']).toBeGreaterThan(0);
    expect(r.statuses['401']).toBeGreaterThan(0);
    expect(Object.keys(r.statuses).sort()).toEqual(['200', '401']);
    for (let i = 1; i < r.requests.length; i++) expect(r.requests[i]).toBeGreaterThan(r.requests[i - 1]!);
    // After the cycle the server is back on bare.
    expect(r.afterCycle).toBe(200);
  }, 70_000);

  it('puts the cycles of a process that served its guards in another order back in the group order', async () => {
    expect(await run<string[]>("m.inGroupOrder(['bare', 'third', 'second'], [0, 2, 1])")).toEqual(['bare', 'second', 'third']);
    // Served in the order bare (10 µs), the group's variant 2 (15 µs), its variant 1 (12 µs), with a drift of
    // 0.3 µs per slice: in group order, variant 1 costs 2 µs over bare and variant 2 costs 5, exactly.
    const cycles = await run<Cycle[][]>(`m.pairedCycles(m.slicesOf(${JSON.stringify(boundaries([10, 15, 12], 13, 0.3))}), 3).map((c) => m.inGroupOrder(c, [0, 2, 1]))`);
    expect(cycles).toHaveLength(4);
    for (const c of cycles) {
      expect(c[1]!.extra).toBeCloseTo(2, 9);
      expect(c[2]!.extra).toBeCloseTo(5, 9);
    }
  });

  it('serves a snapshot of the build (bench/baseline.mjs) beside the build itself in one paired server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-baseline-'));
    try {
      const r = await baselineRun(dir);
      expect(r.info.commit).toMatch(/^[0-9a-f]{7,}$|^unknown$/);
      expect(r.coreLink).toBe(join(dir, 'core'));
      expect(r.bareMissing).toBe(200);
      expect(r.baseline).toEqual({ valid: 200, missing: 401, description: 'No access token was sent (baseline)' });
      expect(r.current).toEqual({ valid: 200, missing: 401, description: 'No access token was sent' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('places a median in its interval, exact when the cycles agree', async () => {
    expect(await run<{ median: number; interval: number[] }>('m.medianWithInterval([2, 2, 2, 2])')).toEqual({ median: 2, interval: [2, 2] });
    const spread = await run<{ median: number; interval: number[] }>('m.medianWithInterval([1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1])');
    expect(spread.median).toBeCloseTo(1.8, 9);
    expect(spread.interval[0]).toBeLessThan(1.8);
    expect(spread.interval[1]).toBeGreaterThan(1.8);
  });
});

interface GcMarks { requests: number; gcUs: number[]; gcMajors: number[]; cpuUs: number }

describe('bench server marks', () => {
  it("report the main thread's collection pauses beside CPU time, growing with a bare Express server's garbage", async () => {
    // 2,000 requests to bare Express allocate tens of MB (Express 5 makes fresh hidden classes per request), so
    // young-generation collections must have run between the two marks. The sums only grow.
    const r = await withPairedServer<GcMarks>(`
      const { port } = await common.ask(server, { type: 'config', framework: 'express', guard: 'bare', alg: 'RS256' }, 30000, 'ready');
      const m0 = await common.ask(server, { type: 'mark' });
      for (let i = 0; i < 2000; i++) await (await fetch('http://127.0.0.1:' + port + '/', { signal: AbortSignal.timeout(5000) })).arrayBuffer();
      const m1 = await common.ask(server, { type: 'mark' });
      const m2 = await common.ask(server, { type: 'mark' });
      process.stdout.write(JSON.stringify({ requests: m1.requests - m0.requests, gcUs: [m0.gcUs, m1.gcUs, m2.gcUs], gcMajors: [m0.gcMajors, m1.gcMajors, m2.gcMajors], cpuUs: m1.cpuUs - m0.cpuUs }));`);
    expect(r.requests).toBe(2000);
    expect(r.gcUs[1]! - r.gcUs[0]!).toBeGreaterThan(0);
    // Pauses are part of the process's CPU time, never more than it.
    expect(r.gcUs[1]! - r.gcUs[0]!).toBeLessThan(r.cpuUs);
    expect(r.gcUs[2]!).toBeGreaterThanOrEqual(r.gcUs[1]!);
    for (const n of r.gcMajors) expect(Number.isInteger(n) && n >= 0).toBe(true);
    expect(r.gcMajors[1]!).toBeGreaterThanOrEqual(r.gcMajors[0]!);
  }, 60_000);
});
