/**
 * The demo, end to end: `node demo/run.mjs` as a child process (on the built packages, as `pnpm demo` runs it),
 * scraped through each API's real `/metrics`, then stopped with SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { parseProm, samplesOf, type PromText } from '../helpers/prom';

const ROOT = resolve(__dirname, '../..');
const PACKAGES = ['core', 'express', 'koa', 'fastify', 'issuer', 'client'];
const FRAMEWORKS = ['express', 'koa', 'fastify'];
const ROTATION_CODES = ['key_not_found', 'signature_invalid', 'jwks_unavailable'];

/** Tokens never reach a test report: anything token-shaped is masked in diagnostics. */
const redact = (text: string) => text.replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<token>').slice(-4000);

function total(text: PromText, name: string, where: Record<string, string> = {}): number {
  return samplesOf(text, name)
    .filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

async function scrape(url: string): Promise<PromText> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  expect(res.status).toBe(200);
  return parseProm(await res.text());
}

/** Polls `check` every 250 ms until it returns a value, at most `ms`. */
async function waitFor<T>(what: string, ms: number, check: () => T | undefined | Promise<T | undefined>, output: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; demo output:\n${redact(output())}`);
}

const children: ChildProcess[] = [];
const dataDirs: string[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Starts `node demo/run.mjs --json <args>` on a fresh data folder (or `dataDir`); the live lines are on stderr. */
function startDemo(args: string[], dataDir = mkdtempSync(join(tmpdir(), 'tokenguard-demo-'))) {
  const missing = PACKAGES.filter((p) => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));
  if (missing.length > 0) throw new Error(`build first (pnpm exec tsc -b): no dist for ${missing.join(', ')}`);
  if (!dataDirs.includes(dataDir)) dataDirs.push(dataDir);
  const proc = spawn(process.execPath, ['demo/run.mjs', '--json', '--data-dir', dataDir, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const out = { stdout: '', stderr: '' };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { out.stdout += d; });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { out.stderr += d; });
  const exited = new Promise<Exit>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const output = () => `--- stderr\n${out.stderr}\n--- stdout\n${out.stdout}`;
  /** Resolves with the exit, or fails after `ms`. */
  const exit = async (ms: number): Promise<Exit> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((res) => { timer = setTimeout(() => res('timeout'), ms); });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') throw new Error(`demo did not exit within ${ms} ms:\n${redact(output())}`);
    return result;
  };
  /** The `metrics: express=URL koa=URL fastify=URL issuer=URL` line. */
  const urls = () => waitFor('the metrics URLs line', 15_000, () => {
    const line = /^metrics: (.*)$/m.exec(out.stderr)?.[1];
    if (line === undefined) return undefined;
    return Object.fromEntries([...line.matchAll(/(\w+)=(http:\/\/127\.0\.0\.1:\d+\/metrics)/g)].map((m) => [m[1]!, m[2]!]));
  }, output);
  return { proc, out, output, exit, urls, dataDir };
}

interface Summary {
  reason: string; resumed: boolean; ok: boolean; failures: number; rotationFailures: number;
  issuer: { signerChangesSeen: number };
  frameworks: { framework: string; accepted: number; scopeDenials: number; rotationFailures: number }[];
}

test('the demo shows accepted calls and scope denials on all three APIs, survives key rotations, stops cleanly on SIGINT, and resumes its data folder', async () => {
  const startedAt = Date.now();
  const demo = startDemo(['--duration', '60s', '--rotate-every', '2s', '--rate', '20']);
  const { proc, out, output } = demo;

  // 1. The URLs line: `metrics: express=http://127.0.0.1:P/metrics koa=... fastify=... issuer=...`.
  const urls = await demo.urls();
  expect(Object.keys(urls).sort()).toEqual(['express', 'fastify', 'issuer', 'koa']);

  // 2. The copy-paste curl line works as printed: its token reads orders and is refused for writing.
  const curl = await waitFor('the curl line', 10_000, () => {
    const m = /curl -i -H 'Authorization: Bearer ([\w.-]+)' (http:\/\/127\.0\.0\.1:\d+\/orders)/.exec(out.stderr);
    return m ? { token: m[1]!, url: m[2]! } : undefined;
  }, output);
  const read = await fetch(curl.url, { headers: { authorization: `Bearer ${curl.token}` }, signal: AbortSignal.timeout(3000) });
  expect(read.status).toBe(200);
  expect(await read.json()).toEqual(expect.objectContaining({ orders: expect.any(Array) }));
  const write = await fetch(curl.url, { method: 'POST', headers: { authorization: `Bearer ${curl.token}` }, signal: AbortSignal.timeout(3000) });
  expect(write.status).toBe(403);
  expect(await write.json()).toEqual(expect.objectContaining({ code: 'insufficient_scope' }));

  // 3. The promise: within 15 s of the start every API's /metrics shows accepted calls and scope denials.
  await waitFor('accepted calls and scope denials on every API', 15_000 - (Date.now() - startedAt), async () => {
    const scrapes = await Promise.all(FRAMEWORKS.map((f) => scrape(urls[f]!)));
    const ready = scrapes.every((m) => total(m, 'tokenguard_validations_total', { outcome: 'accepted' }) > 0 &&
      total(m, 'tokenguard_scope_denials_total') + total(m, 'tokenguard_rejections_total', { reason: 'insufficient_scope' }) > 0);
    return ready ? true : undefined;
  }, output);

  // 4. Two key rotations seen by the callers (rotation every 2 s), while traffic flows.
  await waitFor('two key rotations', 15_000, () => {
    const seen = [...out.stderr.matchAll(/rotations_seen=(\d+)/g)].map((m) => Number(m[1]));
    return Math.max(0, ...seen) >= 2 ? true : undefined;
  }, output);

  // 5. Every API's own /metrics: accepted calls, scope denials, missing and malformed tokens refused, zero rotation failures.
  for (const framework of FRAMEWORKS) {
    const metrics = await scrape(urls[framework]!);
    const reasons = (reason: string) => total(metrics, 'tokenguard_rejections_total', { reason });
    expect({ framework, accepted: total(metrics, 'tokenguard_validations_total', { outcome: 'accepted' }) > 0 }).toEqual({ framework, accepted: true });
    const scopeDenials = Math.max(total(metrics, 'tokenguard_scope_denials_total'), reasons('insufficient_scope'));
    expect({ framework, scopeDenied: scopeDenials > 0 }).toEqual({ framework, scopeDenied: true });
    expect({ framework, tokenMissing: reasons('token_missing') > 0, malformed: reasons('token_malformed') > 0 })
      .toEqual({ framework, tokenMissing: true, malformed: true });
    expect({ framework, rotationFailures: ROTATION_CODES.map(reasons) }).toEqual({ framework, rotationFailures: [0, 0, 0] });
    // The key set was fetched again as keys rotated (more than the first fetch).
    expect({ framework, refreshed: total(metrics, 'tokenguard_jwks_fetches_total', { outcome: 'ok' }) >= 2 }).toEqual({ framework, refreshed: true });
  }
  const issuerMetrics = await scrape(urls.issuer!);
  expect(total(issuerMetrics, 'tokenguard_issuer_tokens_total')).toBeGreaterThan(0);

  // 6. SIGINT: everything closes and the process exits 0 by itself, with the JSON summary on stdout.
  proc.kill('SIGINT');
  expect(await demo.exit(10_000)).toEqual({ code: 0, signal: null });
  expect(out.stderr).not.toMatch(/still open after shutdown/);
  const summary = JSON.parse(out.stdout) as Summary;
  expect(summary.reason).toBe('SIGINT');
  expect(summary.rotationFailures).toBe(0);
  expect(summary.failures).toBe(0);
  expect(summary.ok).toBe(true);
  expect(summary.issuer.signerChangesSeen).toBeGreaterThanOrEqual(2);
  expect(summary.frameworks.map((f) => f.framework)).toEqual(FRAMEWORKS);
  for (const f of summary.frameworks) {
    expect(f.accepted).toBeGreaterThan(0);
    expect(f.scopeDenials).toBeGreaterThan(0);
    expect(f.rotationFailures).toBe(0);
  }
  // The JSON summary never carries a token.
  expect(out.stdout).not.toMatch(/eyJ[\w-]*\.[\w-]*\./);
  expect(summary.resumed).toBe(false);

  // 7. A second run resumes the data folder: the same clients authenticate, and the key that signed the first
  //    run's curl token is still published by the token service (it stays until that token has expired).
  const again = startDemo(['--duration', '60s', '--rate', '10', '--no-curl'], demo.dataDir);
  const urls2 = await again.urls();
  const jwksUrl = urls2.issuer!.replace(/\/metrics$/, '/.well-known/jwks.json');
  const jwks = (await (await fetch(jwksUrl, { signal: AbortSignal.timeout(3000) })).json()) as { keys: { kid: string }[] };
  expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(curl.token).kid);
  again.proc.kill('SIGINT');
  expect(await again.exit(10_000)).toEqual({ code: 0, signal: null });
  const summary2 = JSON.parse(again.out.stdout) as Summary;
  expect(summary2.resumed).toBe(true);
  expect(summary2.failures).toBe(0);
}, 45_000);

// The check above is only worth something if it can fail: break rotation on purpose and the same numbers show it.
test('with rotation broken on purpose (--no-prepublish) the APIs report key_not_found and a timed run exits 1', async () => {
  const demo = startDemo(['--duration', '6s', '--rotate-every', '1s', '--rate', '10', '--no-prepublish', '--no-curl']);
  const urls = await demo.urls();
  for (const framework of FRAMEWORKS) {
    const notFound = await waitFor(`key_not_found on ${framework}`, 10_000, async () => {
      const n = total(await scrape(urls[framework]!), 'tokenguard_rejections_total', { reason: 'key_not_found' });
      return n > 0 ? n : undefined;
    }, demo.output);
    expect(notFound).toBeGreaterThan(0);
  }
  expect(await demo.exit(15_000)).toEqual({ code: 1, signal: null });
  const summary = JSON.parse(demo.out.stdout) as Summary;
  expect(summary.reason).toBe('duration');
  expect(summary.ok).toBe(false);
  expect(summary.rotationFailures).toBeGreaterThan(0);
  expect(summary.frameworks.every((f) => f.rotationFailures > 0)).toBe(true);
  expect(demo.out.stderr).toMatch(/caused by rotation/);
  expect(demo.out.stderr).not.toMatch(/curl -i/);
}, 30_000);
