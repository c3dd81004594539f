// Turns a V8 CPU profile (node:inspector Profiler / --cpu-prof format) into a markdown summary: self time
// by area (tokenguard core, adapters, frameworks, jose, node:crypto, GC, ...) and the top functions, each
// also as µs per operation given the CPU per operation measured separately.
import { Session } from 'node:inspector/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR } from './common.mjs';

const ROOT = fileURLToPath(new URL('..', `file://${BENCH_DIR}/`));

function area(url) {
  if (!url) return 'V8/native (crypto, parsing, buffers)';
  const pkg = /\/packages\/([a-z]+)\//.exec(url);
  if (pkg) return pkg[1] === 'core' ? 'tokenguard core' : `@tokenguard/${pkg[1]} adapter`;
  const mod = /node_modules\/(?!\.pnpm)((?:@[^/]+\/)?[^/]+)\//.exec(url.slice(url.lastIndexOf('node_modules/.pnpm/') + 1));
  if (mod) return mod[1];
  if (url.startsWith('node:internal/crypto') || url.startsWith('node:crypto')) return 'node:crypto (JS side)';
  if (url.startsWith('node:internal/http') || url.startsWith('node:_http') || url.startsWith('node:http') || url.startsWith('node:net') || url.startsWith('node:internal/stream') || url.startsWith('node:stream')) return 'node http/net/streams';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/bench/')) return 'bench code';
  return 'other';
}

/** Starts the sampling profiler in this process; resolves to `stop()`, which resolves to the profile. */
export async function startProfiler(intervalUs = 100) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return profile;
  };
}

/** Markdown tables of self time by area and the `top` functions; `cpuUsPerOp` turns shares into µs per op. */
export function summarizeProfile(profile, cpuUsPerOp, top = 20) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // The profiler's own start/stop calls (inspector Session.post → dispatch) are not part of the workload.
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
    const file = cf.url ? (cf.url.startsWith('file://') ? relative(ROOT, fileURLToPath(cf.url)).replace(/^node_modules\/\.pnpm\/[^/]+\/node_modules\//, '') : cf.url) : '';
    const key = `${name} ${file}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = ['(garbage collector)', '(program)'].includes(name) ? name : area(cf.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const share = (us) => `${((us / total) * 100).toFixed(1)}%`;
  const perOp = (us) => (cpuUsPerOp * (us / total)).toFixed(2);
  const lines = ['| area | share of sampled time | ≈ µs per op |', '|---|---|---|'];
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) lines.push(`| ${a} | ${share(us)} | ${perOp(us)} |`);
  lines.push('', '| function (self time) | share | ≈ µs per op |', '|---|---|---|');
  for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${share(us)} | ${perOp(us)} |`);
  return lines.join('\n');
}
