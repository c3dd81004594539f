// Where does the time go inside tokenguard's verify()? Runs one case in a loop under the V8 sampling profiler
// (node:inspector, the same data as `node --cpu-prof`, limited to the measured loop) and prints a markdown
// summary: self time by area and the top functions.
//   node bench/profile.mjs --case=uncached|cached|request [--alg=RS256] [--engine=node|jose] [--ops=N] [--out=file]
//   [--save=file.cpuprofile] keeps the raw profile for Chrome DevTools / speedscope; [--cache=false] verifies
//   with the verified-token cache off (uncached case only).
import { writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { parseArgs, tokenguardInfo, cpuNow, reportAndExit } from './lib/common.mjs';
import { startProfiler, summarizeProfile } from './lib/profile-summary.mjs';
import { ISSUER, AUDIENCE, makeKey, signTokens } from './lib/tokens.mjs';

const args = parseArgs(process.argv.slice(2));
const CASE = String(args.case ?? 'uncached');
const ALG = String(args.alg ?? 'RS256');
const ENGINE = args.engine ? String(args.engine) : undefined;
const OPS = Number(args.ops ?? (CASE === 'uncached' ? 3_000 : 200_000));
async function main() {
  const tg = await tokenguardInfo();
  if (!tg.available) throw new Error(tg.reason);
  const key = await makeKey(ALG);
  // Uncached: one set of never-seen tokens for the warm-up, one for the plain measurement, one for the profiled pass.
  const WARM = CASE === 'uncached' ? Math.min(OPS, 2_000) : 20_000;
  const count = CASE === 'uncached' ? 2 * OPS + WARM + 1 : 1_001;
  const tokens = await signTokens(key, count, { prefix: 'p' });
  const v = tg.core.createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: { keys: [key.jwk] }, algorithms: [ALG], metrics: { registry: new Registry() }, ...(ENGINE ? { engine: ENGINE } : {}), ...(args.cache === 'false' ? { cache: false } : {}) });
  await v.verify(tokens[0]);
  const plainList = CASE === 'uncached' ? tokens.slice(1, OPS + 1) : tokens.slice(1);
  let list = plainList;
  if (CASE !== 'uncached') for (const t of list) await v.verify(t);
  const reqs = list.map((t) => ({ headers: { host: '127.0.0.1', authorization: `Bearer ${t}` }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${t}`], method: 'GET', url: '/' }));
  const run = CASE === 'request' ? (i) => v.verifyRequest(reqs[i % reqs.length]) : (i) => v.verify(list[i % list.length]);
  // Warm-up, so that the timed loops measure optimized code, not compilation: the uncached case on never-seen
  // tokens of its own (up to 2,000; until session 13 it had none, and its CPU per operation included the JIT).
  if (CASE === 'uncached') list = tokens.slice(2 * OPS + 1);
  for (let i = 0; i < WARM; i++) await run(i);
  list = plainList;
  // CPU per operation without the profiler (sampling inflates it); the profile only apportions it.
  const c0 = cpuNow();
  for (let i = 0; i < OPS; i++) await run(i);
  const cpu = (cpuNow() - c0) / OPS;
  if (CASE === 'uncached') list = tokens.slice(OPS + 1);
  const stopProfiler = await startProfiler(100);
  for (let i = 0; i < OPS; i++) await run(i);
  const profile = await stopProfiler();
  await v.close();
  if (args.save) writeFileSync(String(args.save), JSON.stringify(profile));
  const md = `Case **${CASE}**, ${ALG}${ENGINE ? `, engine ${ENGINE}` : ''}: ${OPS.toLocaleString('en-US')} operations, ${cpu.toFixed(2)} µs CPU per operation (process.cpuUsage, measured without the profiler; the sampled profile of a second pass splits it).\n\n${summarizeProfile(profile, cpu, Number(args.top ?? 20))}`;
  if (args.out) writeFileSync(String(args.out), `${md}\n`);
  return md;
}

// Run by run.mjs: the summary goes back over IPC; alone: the markdown to stdout.
reportAndExit(main().then((md) => ({ case: CASE, alg: ALG, engine: ENGINE ?? null, markdown: md })), (r) => r.markdown);
