// Where does the time go inside tokenguard's verify()? Runs one case in a loop under the V8 sampling profiler
// (node:inspector, the same data as `node --cpu-prof`, limited to the measured loop) and prints a markdown
// summary: self time by area and the top functions.
//   node bench/profile.mjs --case=uncached|cached|request [--alg=RS256] [--engine=node|jose] [--ops=N] [--out=file]
//   [--save=file.cpuprofile] keeps the raw profile for Chrome DevTools / speedscope.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parseArgs, tokenguardInfo, cpuNow, BENCH_DIR } from './lib/common.mjs';
import { ISSUER, AUDIENCE, makeKey, signTokens } from './lib/tokens.mjs';

const args = parseArgs(process.argv.slice(2));
const CASE = String(args.case ?? 'uncached');
const ALG = String(args.alg ?? 'RS256');
const ENGINE = args.engine ? String(args.engine) : undefined;
const OPS = Number(args.ops ?? (CASE === 'uncached' ? 3_000 : 200_000));
const ROOT = fileURLToPath(new URL('..', `file://${BENCH_DIR}/`));

function area(url) {
  if (!url) return 'V8/native';
  if (url.includes('/packages/core/')) return 'tokenguard core';
  if (url.includes('/jose/')) return 'jose';
  if (url.includes('/prom-client/')) return 'prom-client (metrics)';
  if (url.includes('/lru-cache/')) return 'lru-cache';
  if (url.startsWith('node:internal/crypto') || url.startsWith('node:crypto')) return 'node:crypto (JS side)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/bench/')) return 'bench loop';
  return 'other';
}

function summarize(profile, cpuUsPerOp) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // The profiler's own start/stop calls (inspector Session.post → dispatch) are not part of the case.
  const parentName = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentName.set(c, n.callFrame.functionName);
  const ownFrames = (n) => n.callFrame.functionName === 'dispatch' && parentName.get(n.id) === 'post';
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  const fns = new Map();
  const areas = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)' || ownFrames(n)) continue;
    total += us;
    const file = cf.url ? (cf.url.startsWith('file://') ? relative(ROOT, fileURLToPath(cf.url)) : cf.url) : '';
    const key = `${name} ${file}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = ['(garbage collector)', '(program)'].includes(name) ? name : area(cf.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const share = (us) => `${((us / total) * 100).toFixed(1)}%`;
  const perOp = (us) => (cpuUsPerOp * (us / total)).toFixed(2);
  const lines = [];
  lines.push(`Case **${CASE}**, ${ALG}${ENGINE ? `, engine ${ENGINE}` : ''}: ${OPS.toLocaleString('en-US')} operations, ${cpuUsPerOp.toFixed(2)} µs CPU per operation (process.cpuUsage, measured without the profiler; the sampled profile of a second pass splits it).`);
  lines.push('');
  lines.push('| area | share of sampled time | ≈ µs per op |');
  lines.push('|---|---|---|');
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) lines.push(`| ${a} | ${share(us)} | ${perOp(us)} |`);
  lines.push('');
  lines.push('| function (self time) | share | ≈ µs per op |');
  lines.push('|---|---|---|');
  for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(args.top ?? 20))) lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${share(us)} | ${perOp(us)} |`);
  return lines.join('\n');
}

async function main() {
  const tg = await tokenguardInfo();
  if (!tg.available) throw new Error(tg.reason);
  const key = await makeKey(ALG);
  // Uncached: one set of never-seen tokens for the plain measurement, another for the profiled pass.
  const count = CASE === 'uncached' ? 2 * OPS + 1 : 1_001;
  const tokens = await signTokens(key, count, { prefix: 'p' });
  const v = tg.core.createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: { keys: [key.jwk] }, algorithms: [ALG], metrics: { registry: new Registry() }, ...(ENGINE ? { engine: ENGINE } : {}) });
  await v.verify(tokens[0]);
  const plainList = CASE === 'uncached' ? tokens.slice(1, OPS + 1) : tokens.slice(1);
  let list = plainList;
  if (CASE !== 'uncached') for (const t of list) await v.verify(t);
  const reqs = list.map((t) => ({ headers: { host: '127.0.0.1', authorization: `Bearer ${t}` }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${t}`], method: 'GET', url: '/' }));
  const run = CASE === 'request' ? (i) => v.verifyRequest(reqs[i % reqs.length]) : (i) => v.verify(list[i % list.length]);
  // Warm-up on the cached path only (an uncached warm-up would use up never-seen tokens).
  if (CASE !== 'uncached') for (let i = 0; i < 20_000; i++) await run(i);
  // CPU per operation without the profiler (sampling inflates it); the profile only apportions it.
  const c0 = cpuNow();
  for (let i = 0; i < OPS; i++) await run(i);
  const cpu = (cpuNow() - c0) / OPS;
  if (CASE === 'uncached') list = tokens.slice(OPS + 1);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  for (let i = 0; i < OPS; i++) await run(i);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  await v.close();
  if (args.save) writeFileSync(String(args.save), JSON.stringify(profile));
  const md = summarize(profile, cpu);
  if (args.out) writeFileSync(String(args.out), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
