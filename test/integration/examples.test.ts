/**
 * The three example servers start with the one command of their README (`node examples/<fw>/server.mjs`,
 * on the built packages), embed a token service when ISSUER is unset, print working curl lines, enforce
 * the orders scopes, serve /health and /metrics without a token, and exit 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Started { child: ChildProcess; url: string; reader: string; writer: string; output: () => string }

/** Starts an example with PORT=0 and waits (at most 15 s) for its curl lines. */
function start(framework: string): Promise<Started> {
  const child = spawn(process.execPath, [join(ROOT, 'examples', framework, 'server.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ISSUER: '', AUDIENCE: 'orders-api' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${framework} example printed no curl lines within 15 s:\n${out}\n${err}`)), 15_000);
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${framework} example exited early (${code}):\n${err}`)); });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const tokens = [...out.matchAll(/Bearer ([A-Za-z0-9_.-]+)/g)].map((m) => m[1]!);
      if (url && tokens.length >= 3 && out.includes('/metrics\n')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url, reader: tokens[0]!, writer: tokens[2]!, output: () => out });
      }
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 10_000);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

const built = ['core', 'express', 'koa', 'fastify', 'issuer'].every((p) => existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));

describe('examples: the orders API on each framework', () => {
  it('needs the built packages (run `pnpm build` first; the CI test command does)', () => {
    expect(built).toBe(true);
  });

  it.each(['express', 'koa', 'fastify'])('%s: a taken port ends the example with one line and exit 1 (regression: a stack trace)', async (framework) => {
    if (!built) throw new Error('packages are not built');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const child = spawn(process.execPath, [join(ROOT, 'examples', framework, 'server.mjs')], {
        cwd: ROOT,
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ISSUER: '', AUDIENCE: 'orders-api' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      let err = '';
      child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
      expect(await exited(child)).toBe(1);
      expect(err.trim().split('\n')).toEqual([`cannot listen: port ${port} on 127.0.0.1 is in use (set PORT, or PORT=0 for a free one)`]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it.each(['express', 'koa', 'fastify'])('%s: starts with one command, enforces the scopes and exits cleanly', async (framework) => {
    if (!built) throw new Error('packages are not built');
    const { child, url, reader, writer, output } = await start(framework);
    const json = { 'content-type': 'application/json' };
    const list = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${reader}` } });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ orders: [] });
    const refused = await fetch(`${url}/orders`, { method: 'POST', headers: { ...json, authorization: `Bearer ${reader}` }, body: '{"item":"tea"}' });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('scope="orders:write"');
    await refused.text();
    const created = await fetch(`${url}/orders`, { method: 'POST', headers: { ...json, authorization: `Bearer ${writer}` }, body: '{"item":"tea"}' });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ id: 1, item: 'tea', by: 'orders-writer' });
    // Regression: Express answered a malformed JSON body with its HTML error page and a stack trace.
    for (const [body, status] of [['{"item":', 400], [`{"item":"${'x'.repeat(20_000)}"}`, 413]] as const) {
      const bad = await fetch(`${url}/orders`, { method: 'POST', headers: { ...json, authorization: `Bearer ${writer}` }, body });
      expect(bad.status).toBe(status);
      expect(bad.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await bad.text();
      expect(JSON.parse(text)).toEqual(expect.objectContaining({ error: expect.any(String) }));
      expect(text).not.toMatch(/node_modules|\bat \w|<html/i);
    }
    const anonymous = await fetch(`${url}/orders`);
    expect(anonymous.status).toBe(401);
    await anonymous.text();
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    // Fastify parses (and refuses) a bad body before its guard's preValidation hook; Express and Koa verify first.
    const accepted = framework === 'fastify' ? 3 : 5;
    expect(metrics).toMatch(new RegExp(`^tokenguard_validations_total\\{issuer="http://127\\.0\\.0\\.1:\\d+",outcome="accepted"\\} ${accepted}$`, 'm'));
    expect(metrics).toMatch(/^tokenguard_rejections_total\{reason="token_missing"\} 1$/m);
    // The three curl lines are the only place a token appears in the output.
    expect(output().split(reader).length - 1).toBe(2);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });
});
