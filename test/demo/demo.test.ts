/**
 * The demo, end to end: `node demo/run.mjs` as a child process (on the built packages, as `pnpm demo` runs it),
 * scraped through each API's real `/metrics`, then stopped with SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

let child: ChildProcess | undefined;
let dataDir: string | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the demo shows accepted calls and scope denials on all three APIs, survives key rotations, and stops cleanly on SIGINT', async () => {
  const missing = PACKAGES.filter((p) => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));
  if (missing.length > 0) throw new Error(`build first (pnpm exec tsc -b): no dist for ${missing.join(', ')}`);

  dataDir = mkdtempSync(join(tmpdir(), 'tokenguard-demo-'));
  const proc = spawn(process.execPath, ['demo/run.mjs', '--duration', '60s', '--json', '--rotate-every', '2s', '--rate', '20', '--data-dir', dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const output = () => `--- stderr\n${stderr}\n--- stdout\n${stdout}`;

  // 1. The URLs line: `metrics: express=http://127.0.0.1:P/metrics koa=... fastify=... issuer=...`.
  const urls = await waitFor('the metrics URLs line', 15_000, () => {
    const line = /^metrics: (.*)$/m.exec(stderr)?.[1];
    if (line === undefined) return undefined;
    return Object.fromEntries([...line.matchAll(/(\w+)=(http:\/\/127\.0\.0\.1:\d+\/metrics)/g)].map((m) => [m[1]!, m[2]!]));
  }, output);
  expect(Object.keys(urls).sort()).toEqual(['express', 'fastify', 'issuer', 'koa']);

  // 2. The copy-paste curl line works as printed: its token reads orders and is refused for writing.
  const curl = await waitFor('the curl line', 10_000, () => {
    const m = /curl -i -H 'Authorization: Bearer ([\w.-]+)' (http:\/\/127\.0\.0\.1:\d+\/orders)/.exec(stderr);
    return m ? { token: m[1]!, url: m[2]! } : undefined;
  }, output);
  const read = await fetch(curl.url, { headers: { authorization: `Bearer ${curl.token}` }, signal: AbortSignal.timeout(3000) });
  expect(read.status).toBe(200);
  expect(await read.json()).toEqual(expect.objectContaining({ orders: expect.any(Array) }));
  const write = await fetch(curl.url, { method: 'POST', headers: { authorization: `Bearer ${curl.token}` }, signal: AbortSignal.timeout(3000) });
  expect(write.status).toBe(403);
  expect(await write.json()).toEqual(expect.objectContaining({ code: 'insufficient_scope' }));

  // 3. Two key rotations seen by the callers (rotation every 2 s), while traffic flows.
  await waitFor('two key rotations', 15_000, () => {
    const seen = [...stderr.matchAll(/rotations_seen=(\d+)/g)].map((m) => Number(m[1]));
    return Math.max(0, ...seen) >= 2 ? true : undefined;
  }, output);

  // 4. Every API's own /metrics: accepted calls, scope denials, anonymous calls refused, zero rotation failures.
  for (const framework of FRAMEWORKS) {
    const metrics = await scrape(urls[framework]!);
    const reasons = (reason: string) => total(metrics, 'tokenguard_rejections_total', { reason });
    expect({ framework, accepted: total(metrics, 'tokenguard_validations_total', { outcome: 'accepted' }) > 0 }).toEqual({ framework, accepted: true });
    const scopeDenials = Math.max(total(metrics, 'tokenguard_scope_denials_total'), reasons('insufficient_scope'));
    expect({ framework, scopeDenied: scopeDenials > 0 }).toEqual({ framework, scopeDenied: true });
    expect({ framework, tokenMissing: reasons('token_missing') > 0 }).toEqual({ framework, tokenMissing: true });
    expect({ framework, rotationFailures: ROTATION_CODES.map(reasons) }).toEqual({ framework, rotationFailures: [0, 0, 0] });
    // The key set was fetched again as keys rotated (more than the first fetch).
    expect({ framework, refreshed: total(metrics, 'tokenguard_jwks_fetches_total', { outcome: 'ok' }) >= 2 }).toEqual({ framework, refreshed: true });
  }
  const issuerMetrics = await scrape(urls.issuer!);
  expect(total(issuerMetrics, 'tokenguard_issuer_tokens_total')).toBeGreaterThan(0);

  // 5. SIGINT: everything closes and the process exits 0 by itself, with the JSON summary on stdout.
  proc.kill('SIGINT');
  const timeout = new Promise<'timeout'>((res) => { const t = setTimeout(() => res('timeout'), 10_000); t.unref(); });
  const result = await Promise.race([exited, timeout]);
  if (result === 'timeout') throw new Error(`demo did not exit within 10 s of SIGINT:\n${redact(output())}`);
  expect(result).toEqual({ code: 0, signal: null });
  expect(stderr).not.toMatch(/still open after shutdown/);
  const summary = JSON.parse(stdout) as {
    reason: string; ok: boolean; failures: number; rotationFailures: number;
    issuer: { signerChangesSeen: number }; frameworks: { framework: string; accepted: number; scopeDenials: number; rotationFailures: number }[];
  };
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
  expect(stdout).not.toMatch(/eyJ[\w-]*\.[\w-]*\./);
}, 45_000);
