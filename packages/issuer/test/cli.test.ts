/**
 * (5) The CLI, run as users run it: `node packages/issuer/dist/cli.js ...` (built in beforeAll; incremental, so a
 * no-op when `tsc -b` already ran). Output formats, exit codes, one-line errors, and a running `serve` that sees a
 * `client add` and a `keys rotate` within 5 s.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { basic, claimsOf, form, post, tempDir } from './support';

const root = resolve(__dirname, '../../..');
const cli = join(root, 'packages/issuer/dist/cli.js');
const MASTER = 'cli-test-master-key';

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [cli, ...args], { cwd: tmpdir(), env: { ...process.env, TOKENGUARD_MASTER_KEY: MASTER, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function isBuilt(): Promise<boolean> {
  const built = await stat(cli).then((s) => s.mtimeMs, () => 0);
  const core = await stat(join(root, 'packages/core/dist/index.js')).then((s) => s.mtimeMs, () => 0);
  return built > (await newestSource(join(root, 'packages/issuer/src'))) && core > (await newestSource(join(root, 'packages/core/src')));
}

describe('tokenguard-issuer CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let config: string;
  let serve: ChildProcess | undefined;

  beforeAll(async () => {
    // CI builds with `tsc -b` before jest; build here only when the sources are newer than dist (a local run), so
    // parallel test files never rebuild the same outputs at once.
    if (!(await isBuilt())) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'packages/issuer'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
    ({ dir, cleanup } = await tempDir());
    config = join(dir, 'issuer.json');
    await writeFile(config, JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 }, dataDir: './state',
      signing: { algorithm: 'ES256', rotateEvery: '1h', prePublish: '2s' }, tokens: { defaultTtl: '5m', maxTtl: '10m' },
    }));
  }, 130_000);
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const child = serve;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGTERM');
      });
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await cleanup();
  });

  test('client add prints the secret once (client_secret: line) and stores only its scrypt hash, next to the config file', async () => {
    const res = await run(['client', 'add', '--config', config, '--id', 'orders-client', '--scopes', 'orders:read,orders:write', '--audiences', 'orders-api']);
    expect(res.code).toBe(0);
    const secret = /^client_secret: (\S+)$/m.exec(res.stdout)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.stdout).toMatch(/^client_id: orders-client$/m);
    const stored = await readFile(join(dir, 'state', 'clients.json'), 'utf8');
    expect(stored).not.toContain(secret!);
    expect(stored).toMatch(/"clientSecretHash": "scrypt\$/);

    const json = await run(['client', 'add', '--config', config, '--id', 'billing', '--scopes', 'bill', '--audiences', 'billing-api', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(parsed.client_id).toBe('billing');
    expect(parsed.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);

    // Regression: a client added without --audiences could never get a token, and nothing said so.
    const deaf = await run(['client', 'add', '--config', config, '--id', 'no-audience', '--scopes', 'x', '--json']);
    expect(deaf.code).toBe(0);
    expect((JSON.parse(deaf.stdout) as Record<string, unknown>).client_id).toBe('no-audience');
    expect(deaf.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^warning: client "no-audience" has no --audiences: it cannot obtain tokens/)]);
    expect((await run(['client', 'remove', '--config', config, '--id', 'no-audience'])).code).toBe(0);
    const dup = await run(['client', 'add', '--config', config, '--id', 'billing']);
    expect(dup.code).toBe(1);
    expect(dup.stderr.trim().split('\n')).toEqual([expect.stringMatching(/already exists/)]);
  });

  test('client list and remove', async () => {
    const list = await run(['client', 'list', '--config', config]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^orders-client\tscopes=orders:read,orders:write\taudiences=orders-api\tsource=store$/m);
    expect(list.stdout).toMatch(/^billing\t/m);
    const removed = await run(['client', 'remove', '--config', config, '--id', 'billing']);
    expect(removed).toMatchObject({ code: 0, stdout: 'removed: billing\n' });
    const json = JSON.parse((await run(['client', 'list', '--config', config, '--json'])).stdout) as { client_id: string }[];
    expect(json.map((c) => c.client_id)).toEqual(['orders-client']);
    const again = await run(['client', 'remove', '--config', config, '--id', 'billing']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^tokenguard-issuer: no client "billing" in the store\n$/);
  });

  test('keys list, rotate, rotate --now; keys are encrypted at rest with TOKENGUARD_MASTER_KEY', async () => {
    const first = JSON.parse((await run(['keys', 'list', '--config', config, '--json'])).stdout) as { kid: string; state: string }[];
    expect(first.map((k) => k.state)).toEqual(['active']);
    const rotated = await run(['keys', 'rotate', '--config', config]);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/^rotated: \S+ \(ES256\) signs from /);
    const text = await run(['keys', 'list', '--config', config]);
    expect(text.stdout.trim().split('\n').map((l) => l.split('\t')[2])).toEqual(['active', 'next']);
    const now = await run(['keys', 'rotate', '--config', config, '--now']);
    expect(now.code).toBe(0);
    const after = JSON.parse((await run(['keys', 'list', '--config', config, '--json'])).stdout) as { kid: string; state: string }[];
    expect(after.map((k) => k.state)).toEqual(['retired', 'active']);
    expect(after[0]!.kid).toBe(first[0]!.kid);
    const onDisk = await readFile(join(dir, 'state', 'keys.json'), 'utf8');
    expect(onDisk).not.toMatch(/"d"\s*:/);
    const noKey = await run(['keys', 'list', '--config', config], { TOKENGUARD_MASTER_KEY: '' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^tokenguard-issuer: .*set TOKENGUARD_MASTER_KEY\n$/);
  });

  test('bad flags and bad config: one clear line on stderr, non-zero exit, nothing on stdout', async () => {
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"listen": ');
    const badAlg = join(dir, 'bad-alg.json');
    await writeFile(badAlg, JSON.stringify({ signing: { algorithm: 'HS256' } }));
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ signin: {} }));
    const cases: [string[], number, RegExp][] = [
      [['client', 'add', '--config', config], 2, /--id is required/],
      [['keys', 'list', '--config', config, '--bogus'], 2, /Unknown option '--bogus'/],
      [['keys', 'list', '--config', config, '--id', 'x'], 2, /option --id is not valid for "keys list"/],
      [['client', 'frobnicate', '--config', config], 2, /unknown command "client frobnicate"/],
      [['serve'], 2, /--config is required/],
      [['keys', 'list', '--config', join(dir, 'missing.json')], 1, /cannot read config file .*ENOENT/],
      [['keys', 'list', '--config', broken], 1, /is not valid JSON/],
      [['serve', '--config', badAlg], 1, /"signing.algorithm" must be one of ES256, RS256, PS256, EdDSA/],
      [['serve', '--config', typo], 1, /unknown option "signin"/],
      [['token', '--config', config, '--client', 'orders-client'], 1, /set "issuer" in the config file/],
    ];
    for (const [args, code, message] of cases) {
      const res = await run(args);
      expect({ args, code: res.code }).toEqual({ args, code });
      expect(res.stdout).toBe('');
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^tokenguard-issuer: /);
      expect(lines[0]).toMatch(message);
    }
  });

  test('a dataDir that cannot be created fails with one line at once (regression: under /proc, Node\'s recursive mkdir spun forever)', async () => {
    const cases: [string, RegExp][] = [
      ['./issuer.json', /issuer\.json exists and is not a directory/],
      ['./issuer.json/state', /ENOTDIR/],
    ];
    if (existsSync('/proc/self')) cases.push(['/proc/tokenguard-no-such-dir/state', /ENOENT/]);
    for (const [dataDir, message] of cases) {
      const file = join(dir, 'unmakeable.json');
      await writeFile(file, JSON.stringify({ dataDir }));
      const started = Date.now();
      const res = await run(['keys', 'list', '--config', file]);
      expect({ dataDir, code: res.code }).toEqual({ dataDir, code: 1 });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
    }
  });

  test('a running serve sees a client add and a keys rotate within 5 s; token mints a dev token it accepts', async () => {
    // API.md's form: `tokenguard-issuer --config FILE` (no command) serves.
    serve = spawn(process.execPath, [cli, '--config', config], { cwd: tmpdir(), env: { ...process.env, TOKENGUARD_MASTER_KEY: MASTER }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    serve.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    let url: string | undefined;
    for (let i = 0; i < 200 && url === undefined && serve.exitCode === null; i++) {
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      await sleep(50);
    }
    expect(url).toBeDefined();
    expect(output).toContain(`(issuer ${url})`);

    const added = await run(['client', 'add', '--config', config, '--id', 'late', '--scopes', 'x', '--audiences', 'api']);
    const secret = /^client_secret: (\S+)$/m.exec(added.stdout)![1]!;
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 5000) {
      status = (await post(`${url}/oauth/token`, form([['grant_type', 'client_credentials']]), { authorization: basic('late', secret) })).status;
      if (status === 200) break;
      await sleep(100);
    }
    expect(status).toBe(200);
    const seenAfter = Date.now() - started;

    const before = ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const rotated = /^rotated: (\S+)/.exec((await run(['keys', 'rotate', '--config', config])).stdout)![1]!;
    expect(before).not.toContain(rotated);
    let published: string[] = [];
    const rotateStarted = Date.now();
    while (Date.now() - rotateStarted < 5000 && !published.includes(rotated)) {
      published = ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
      await sleep(100);
    }
    expect(published).toContain(rotated);
    console.log(`cli: serve saw client add after ${seenAfter} ms, keys rotate after ${Date.now() - rotateStarted} ms`);

    // The dev token: minted offline from the same store, accepted by the running server's keys.
    const devConfig = join(dir, 'dev.json');
    await writeFile(devConfig, JSON.stringify({ issuer: url, dataDir: './state', signing: { rotateEvery: '1h', prePublish: '2s' }, tokens: { defaultTtl: '5m', maxTtl: '10m' } }));
    const token = await run(['token', '--config', devConfig, '--client', 'orders-client', '--scope', 'orders:read']);
    expect(token.code).toBe(0);
    const jwt = token.stdout.trim();
    const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`)), { issuer: url, audience: 'orders-api', typ: 'at+jwt' });
    expect(payload).toMatchObject({ client_id: 'orders-client', scope: 'orders:read', sub: 'orders-client' });
    const json = JSON.parse((await run(['token', '--config', devConfig, '--client', 'orders-client', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'orders:read orders:write' });
    expect(claimsOf(json.access_token as string).iss).toBe(url);
    const unknown = await run(['token', '--config', devConfig, '--client', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^tokenguard-issuer: unknown client "nobody"\n$/);

    // Audit log lines on stdout never hold a token or a secret.
    await sleep(200);
    expect(output).toContain('"type":"token.issued"');
    expect(output).not.toContain(secret);
  }, 40_000);
});
