/**
 * The built package, copied where no prom-client (or anything else) can be resolved: it imports with `import`
 * and `require()`, fetches a token, and only `metrics` asks for prom-client.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { useFaultServer, type FaultServer } from './fault-server';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../../..');
const { ep: server } = useFaultServer();
let ep: FaultServer;
let dir: string;

beforeAll(async () => {
  ep = server();
  // Build (a no-op when dist is up to date), then copy dist alone to a folder with no node_modules above it.
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', join(ROOT, 'packages/client')], { cwd: ROOT, timeout: 60_000 });
  dir = await mkdtemp(join(tmpdir(), 'tokenguard-client-pkg-'));
  await cp(join(ROOT, 'packages/client/dist'), join(dir, 'dist'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'pkg-check', type: 'module' }));
}, 90_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

const script = (load: string): string => `
${load}
let metricsError = 'none';
try { createTokenProvider({ tokenUrl: process.argv[2], clientId: 'c', clientSecret: 's', metrics: true }); }
catch (err) { metricsError = err.constructor.name + ': ' + err.message; }
const tokens = createTokenProvider({ tokenUrl: process.argv[2], clientId: 'c', clientSecret: 's', timeout: '2s' });
tokens.getToken().then(async (token) => {
  await tokens.close();
  console.log(JSON.stringify({ length: token.length, metricsError }));
}, (err) => { console.log(JSON.stringify({ error: err.message })); process.exitCode = 1; });
`;

it.each([
  ['import', 'check.mjs', "import { createTokenProvider } from './dist/index.js';"],
  ['require()', 'check.cjs', "const { createTokenProvider } = require('./dist/index.js');"],
])('works from %s without prom-client installed', async (_how, file, load) => {
  await writeFile(join(dir, file), script(load));
  const { stdout } = await run(process.execPath, [file, ep.tokenUrl], { cwd: dir, timeout: 15_000 });
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as { length: number; metricsError: string };
  expect(ep.requests).toHaveLength(1);
  expect(out.length).toBe(ep.issued[0]!.length);
  expect(out.metricsError).toMatch(/^TypeError: "metrics" needs the optional peer dependency prom-client/);
}, 30_000);
