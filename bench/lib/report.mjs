// Renders the results object of run.mjs as bench/RESULTS.md: machine, method, a targets summary with
// pass/fail, and the side-by-side tables.
import { bootstrapMedianRatio, median } from './common.mjs';

const TARGETS = { cacheHitUs: 3, extraCachedUs: 5, peerFactor: 12, reqRatio: 0.9, uncachedVsFloor: 1.15, heapMiB: 32, floodRatio: 0.9 };

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');
const verdict = (ok) => (ok === null ? 'n/a' : ok ? '**pass**' : '**FAIL**');
/** ` (node)`, ` (node, offload)` or '' for a microbenchmark row. */
const eng = (r) => (r.engine || r.offload || r.fullCache || r.cacheOff ? ` (${[r.engine, r.offload ? 'offload' : null, r.fullCache ? 'full cache: every insert evicts' : null, r.cacheOff ? 'cache: false' : null].filter(Boolean).join(', ')})` : '');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** A 90% interval `[lo, hi]` as text with `d` decimals ('—' when unknown). */
const interval = (iv, d = 1) => (Array.isArray(iv) && iv.every(Number.isFinite) ? `${f(iv[0], d)} to ${f(iv[1], d)}` : '—');
/** Counts by HTTP status, as `401: 17,500, 503: 2`. */
const byStatus = (counts) => Object.entries(counts).map(([k, v]) => `${k}: ${int(v)}`).join(', ');

/** ` (all rounds pooled: x µs, 90% interval lo to hi)` for an HTTP row that has them, else ''. */
const pooledText = (v) => (Number.isFinite(v.extraPooled) ? ` (all rounds pooled: ${f(v.extraPooled)} µs, 90% interval ${interval(v.extraInterval)})` : '');

/**
 * ` (all rounds pooled: r×, 90% interval lo to hi)`: a row's pooled extra CPU ÷ another's (`extraPooled`, both over
 * bare), with a bootstrap interval from every round of every process of the three (the rounds kept in the results,
 * `samples`); '' without them.
 */
function pooledRatioText(row, other, bare) {
  const rounds = (v) => (Array.isArray(v?.samples) ? v.samples.flat() : []);
  const [a, b, base] = [rounds(row), rounds(other), rounds(bare)];
  if (!a.length || !b.length || !base.length) return '';
  return ` (all rounds pooled: ${f(row.extraPooled / other.extraPooled, 2)}×, 90% interval ${interval(bootstrapMedianRatio(a, b, base), 2)})`;
}

/** The microbenchmark row of `group` and `mode` for `alg`. */
function microRow(micro, alg, group, mode = 'seq') {
  return micro?.rows.find((r) => r.alg === alg && r.group === group && r.mode === mode && !r.error);
}

function floorUs(micro, alg) {
  return microRow(micro, alg, 'floor')?.cpuUs;
}

/**
 * The uncached target is judged on the default engine (what a guard uses unless told otherwise). The issue also
 * asks which way of verifying gets within the limit — jose (WebCrypto or KeyObject), the node:crypto fast path,
 * offload to the thread pool — so the other engines' rows are findings: "within" or "over", never pass/FAIL.
 */
function engineVerdict(res, row, ok) {
  const engines = res.tokenguard?.engines ?? [];
  // The micro row with `cache: false` is a finding too: the judged row keeps the default cache on (bench/README.md, session 23).
  const isDefault = (row.engine ?? 'default') === (engines[0] ?? 'default') && !row.offload && !row.cacheOff;
  if (isDefault) return verdict(ok);
  return ok ? 'finding: within' : 'finding: over';
}

function summary(res) {
  const rows = [];
  const { micro, http, memory, flood } = res;
  if (micro) {
    for (const r of micro.rows.filter((x) => (x.group.startsWith('tg-cached') || x.group.startsWith('tg-request')) && !x.error)) {
      rows.push([`${r.group.startsWith('tg-request') ? 'verifyRequest() cache hit (extraction + new token string)' : 'verify() cache hit'} inside the core, ${r.alg}${eng(r)} (micro)`, `${f(r.cpuUs, 2)} µs CPU`, `≤ ${TARGETS.cacheHitUs} µs`, verdict(r.cpuUs <= TARGETS.cacheHitUs)]);
    }
    for (const r of micro.rows.filter((x) => x.group.startsWith('tg-uncached') && x.mode === 'seq' && !x.error)) {
      const floor = floorUs(micro, r.alg);
      const ratio = r.cpuUs / floor;
      rows.push([`uncached verify() vs node:crypto floor, ${r.alg}${eng(r)} (micro)`, `${f(r.cpuUs)} µs = ${f(ratio, 2)}× floor ${f(floor)} µs`, `≤ ${TARGETS.uncachedVsFloor}×`, engineVerdict(res, r, ratio <= TARGETS.uncachedVsFloor)]);
    }
    if (!micro.tokenguard.available) rows.push(['tokenguard in the microbenchmark', micro.tokenguard.reason ?? 'not available', '—', 'n/a']);
  }
  if (http) {
    for (const [fw, vs] of Object.entries(http.frameworks)) {
      const tg = vs.find((v) => v.kind === 'tg-cached' && v.rounds);
      const bare = vs.find((v) => v.kind === 'bare');
      const peers = vs.filter((v) => v.kind === 'peer' && v.rounds);
      if (!tg) {
        rows.push([`${fw}: tokenguard guard`, 'not measured (adapter not built or failed its sanity check)', '—', 'n/a']);
        continue;
      }
      rows.push([`${fw}: extra server CPU per request over bare, cached (${int(http.rotation)} tokens)`, `${f(tg.extraCpuPerReq)} µs${pooledText(tg)}`, `≤ ${TARGETS.extraCachedUs} µs`, verdict(tg.extraCpuPerReq <= TARGETS.extraCachedUs)]);
      // The target compares like with like: peers that read the same JWKS as tokenguard. A peer handed the PEM
      // directly skips key lookup altogether; its ratio is shown for information.
      const fair = peers.filter((p) => p.keySource !== 'pem');
      const pem = peers.filter((p) => p.keySource === 'pem');
      for (const [group, label, judged] of [[fair, 'best peer', true], [pem, 'best peer given the PEM directly (not like for like)', false]]) {
        if (!group.length) continue;
        const best = group.reduce((a, b) => (b.extraCpuPerReq < a.extraCpuPerReq ? b : a));
        const factor = best.extraCpuPerReq / Math.max(tg.extraCpuPerReq, 0.01);
        rows.push([`${fw}: ${label} (${best.id}) extra CPU ÷ tokenguard extra CPU`, `${f(best.extraCpuPerReq)} µs ÷ ${f(tg.extraCpuPerReq)} µs = ${tg.extraCpuPerReq <= 0.01 ? '≫' : f(factor)}×`, `≥ ${TARGETS.peerFactor}×`, judged ? verdict(factor >= TARGETS.peerFactor) : 'info']);
      }
      // The req/s target applies only where the server, not the load generator, is the bottleneck: judged
      // when bare saturates its server core, n/a when autocannon's core is the limit or neither is saturated.
      // The server's load = its process CPU + the softirq (TCP) work on its core (when /proc/stat is readable).
      const SAT = 0.85;
      const serverLoad = bare ? bare.serverBusy + (Number.isFinite(bare.irq) ? bare.irq : 0) : NaN;
      const bareState = !bare?.rounds ? 'unmeasured' : serverLoad >= SAT ? 'server' : bare.loadBusy >= SAT ? 'load' : 'neither';
      const why = { server: '', load: ' (bare is load-generator bound)', neither: ' (bare saturated neither core: machine busy)', unmeasured: '' }[bareState];
      rows.push([`${fw}: req/s with tokenguard ÷ bare`, `${int(tg.reqPerSec)} ÷ ${int(bare?.reqPerSec)} = ${f(tg.vsBare, 2)}${why}`, `≥ ${TARGETS.reqRatio}`, bareState === 'server' ? verdict(tg.vsBare >= TARGETS.reqRatio) : 'n/a']);
      // The yardstick of the cached rows, for information: what the least verified-token cache costs in the same run.
      const cachedFloor = vs.find((v) => v.kind === 'floor-cached' && v.rounds);
      if (cachedFloor) rows.push([`${fw}: ${cachedFloor.id} (yardstick): extra server CPU per request; req/s ÷ bare`, `${f(cachedFloor.extraCpuPerReq)} µs${pooledText(cachedFloor)}; ${int(cachedFloor.reqPerSec)} ÷ ${int(bare?.reqPerSec)} = ${f(cachedFloor.vsBare, 2)}`, '—', 'info']);
      for (const u of vs.filter((v) => v.kind === 'tg-uncached' && v.rounds)) {
        const floorGuard = vs.find((v) => v.kind === 'floor' && v.alg === u.alg && v.rounds);
        const microFloor = floorUs(micro, u.alg);
        const ratio = u.extraCpuPerReq / floorGuard?.extraCpuPerReq;
        rows.push([
          `${fw}: ${u.id}: extra server CPU per request ÷ the node:crypto floor guard's (${u.alg})`,
          `${f(u.extraCpuPerReq)} µs ÷ ${f(floorGuard?.extraCpuPerReq)} µs = ${f(ratio, 2)}×${pooledRatioText(u, floorGuard, bare)} (÷ micro floor ${f(microFloor)} µs: ${f(u.extraCpuPerReq / microFloor, 2)}×)`,
          `≤ ${TARGETS.uncachedVsFloor}×`,
          Number.isFinite(ratio) ? engineVerdict(res, u, ratio <= TARGETS.uncachedVsFloor) : 'n/a',
        ]);
      }
    }
  }
  // The paired rounds (--diagnose) beside the verdicts, for information: the same differences inside one process.
  for (const [fw, groups] of Object.entries(res.paired?.available ? res.paired.frameworks : {})) {
    // The development groups (this build against a snapshot) are not figures of the build's guard beside its yardsticks.
    // The cached group under the lockstep load is reported apart (below).
    const row = (kind, lockstep = false) => groups.filter((g) => !String(g.id).startsWith('baseline') && (g.load?.spread === false) === lockstep).flatMap((g) => g.rows ?? []).find((r) => r.kind === kind);
    const tg = row('tg-cached');
    const yard = row('floor-cached');
    const tgLock = row('tg-cached', true);
    const yardLock = row('floor-cached', true);
    const tgU = row('tg-uncached');
    const control = groups.find((g) => g.id === 'control')?.rows?.[1];
    const parts = [];
    if (tg) parts.push(`tokenguard extra ${ratioText(tg.extraCpuPerReq, tg.extraInterval)} µs, req/s ÷ bare ${ratioText(tg.vsBare, tg.vsBareInterval)}`);
    if (yard) parts.push(`the least safe cache ${ratioText(yard.extraCpuPerReq, yard.extraInterval)} µs, ${f(yard.vsBare, 2)}`);
    if (tgU && Number.isFinite(tgU.vsFloor)) parts.push(`uncached ÷ floor guard ${ratioText(tgU.vsFloor, tgU.vsFloorInterval)}`);
    if (tgLock) parts.push(`under the lockstep load of sessions 1–21 (each token ~50 times in a row): tokenguard extra ${ratioText(tgLock.extraCpuPerReq, tgLock.extraInterval)} µs, req/s ÷ bare ${ratioText(tgLock.vsBare, tgLock.vsBareInterval)}${yardLock ? `, the least safe cache ${f(yardLock.extraCpuPerReq)} µs, ${f(yardLock.vsBare, 2)}` : ''}`);
    if (control) parts.push(`control (bare against itself) ${ratioText(control.extraCpuPerReq, control.extraInterval)} µs`);
    if (parts.length) rows.push([`${fw}: paired rounds, bare and guards in one process (diagnostic)`, parts.join('; '), '—', 'info']);
  }
  if (memory) {
    if (memory.available) {
      rows.push([`heap growth with ${int(memory.tokens)} cached RS256 tokens (after gc)`, `${f(memory.growth10kMiB)} MiB (${int(memory.bytesPerEntry)} B/entry)`, `≤ ${TARGETS.heapMiB} MB`, verdict(memory.growth10kMiB * 1.048576 <= TARGETS.heapMiB)]);
      rows.push([`heap growth after ${int(memory.tokens * 2)} distinct tokens (bounded cache)`, `${f(memory.growthAfter2xMiB)} MiB`, `≤ ${TARGETS.heapMiB} MB`, verdict(memory.growthAfter2xMiB * 1.048576 <= TARGETS.heapMiB)]);
    } else rows.push(['memory', memory.reason, '—', 'n/a']);
  }
  if (flood) {
    if (!flood.available) rows.push(['unknown-kid flood', flood.reason, '—', 'n/a']);
    else {
      rows.push(['valid req/s during an unknown-kid flood ÷ without', `${int(flood.floodReqPerSec)} ÷ ${int(flood.quietReqPerSec)} = ${f(flood.ratio, 2)}`, `≥ ${TARGETS.floodRatio}`, verdict(flood.ratio >= TARGETS.floodRatio)]);
      if (flood.controlRatio !== undefined) rows.push(['… the control: the same rate of valid cached tokens instead (information)', `${int(flood.controlReqPerSec)} ÷ ${int(flood.quietReqPerSec)} = ${f(flood.controlRatio, 2)}`, '—', 'info']);
    }
  }
  return table(['target', 'measured', 'limit', 'result'], rows);
}

/** Answers to the questions of issue 9, computed from the numbers of this run. */
function findings(res) {
  const { micro, http } = res;
  const out = [];
  if (micro) {
    // The floor's two parts, as this run's host ran them: its crypto, and the JavaScript around it (decoding). What
    // a verifier adds to the floor is JavaScript, so the uncached ratios to the floor move with the second part.
    const parts = micro.config.algs
      .map((alg) => [alg, floorUs(micro, alg), microRow(micro, alg, 'sig')?.cpuUs])
      .filter(([, floor, sig]) => floor !== undefined && sig !== undefined)
      .map(([alg, floor, sig]) => `${alg} \`crypto.verify\` ${f(sig)} µs and the rest ${f(floor - sig)} µs`);
    if (parts.length > 0) {
      out.push(`- **The host, as the microbenchmark found it** (the floor's two parts, CPU per operation): ${parts.join('; ')}. What a verifier adds to the floor is JavaScript, and on a slowed host JavaScript slowed more than the crypto: the same build read 1.20× an RS256 floor whose rest took 11.4 µs, and 0.96× one whose rest took 5.9 µs (bench/README.md, session 29).`);
    }
    for (const alg of micro.config.algs) {
      const floor = floorUs(micro, alg);
      const candidate = (r) => ['jose', 'jose-ko', 'fast-jwt'].includes(r.group) || r.group.startsWith('tg-uncached');
      const cands = micro.rows.filter((r) => r.alg === alg && r.mode === 'seq' && !r.error && candidate(r));
      const within = cands.filter((r) => r.cpuUs / floor <= TARGETS.uncachedVsFloor).map((r) => r.name);
      out.push(`- **${alg}, uncached, one at a time**: floor ${f(floor)} µs CPU; ${cands.map((r) => `${r.name} ${f(r.cpuUs / floor, 2)}×`).join('; ')}. Within ${TARGETS.uncachedVsFloor}× of the floor: ${within.length ? within.join(', ') : 'none'}.`);
      const seqNode = microRow(micro, alg, 'tg-uncached-node', 'seq') ?? microRow(micro, alg, 'tg-uncached', 'seq');
      const inflNode = microRow(micro, alg, 'tg-uncached-node', 'inflight') ?? microRow(micro, alg, 'tg-uncached', 'inflight');
      const inflJose = microRow(micro, alg, 'tg-uncached-jose', 'inflight');
      const inflOffload = microRow(micro, alg, 'tg-uncached-node-offload', 'inflight');
      const joseSeq = microRow(micro, alg, 'jose', 'seq');
      const joseInfl = microRow(micro, alg, 'jose', 'inflight');
      if (joseSeq && joseInfl) {
        out.push(`  Thread pool (${micro.config.inflight} in flight): jose jwtVerify ${f(joseSeq.cpuUs)} → ${f(joseInfl.cpuUs)} µs CPU/op, ${int(joseSeq.opsPerSec)} → ${int(joseInfl.opsPerSec)} ops/s${inflJose && inflNode ? `; tokenguard uncached ${int(inflJose.opsPerSec)} ops/s with engine jose vs ${int(inflNode.opsPerSec)} with engine node (${f(inflJose.cpuUs)} vs ${f(inflNode.cpuUs)} µs CPU/op)${inflOffload ? `, ${int(inflOffload.opsPerSec)} with engine node + offload (${f(inflOffload.cpuUs)} µs CPU/op)` : ''}` : seqNode ? `; tokenguard uncached ${int(seqNode.opsPerSec)} ops/s one at a time` : ''}.`);
      }
    }
  }
  const unpinned = http?.frameworks.express?.filter((v) => v.kind === 'tg-unpinned' && v.rounds) ?? [];
  if (unpinned.length) {
    out.push(`- **Thread-pool offload over HTTP, server free to use both cores** (Express, RS256 uncached): ${unpinned.map((v) => `${v.engine}${v.offload ? ' + offload' : ''}: ${int(v.reqPerSec)} req/s, ${f(v.cpuPerReq)} µs CPU/req, p99 ${f(v.p99)} ms`).join('; ')}.`);
  }
  return out.join('\n');
}

function microTables(micro) {
  const out = [];
  out.push(`Settings: ${micro.config.uncachedOps} never-seen tokens per uncached round, ${int(micro.config.cachedOps)} cache hits per cached round over ${int(micro.config.rotation)} tokens, ${micro.config.rounds} rounds (median), ${micro.config.inflight} in flight for the concurrent mode.`);
  for (const alg of micro.config.algs) {
    const floor = floorUs(micro, alg);
    const rows = micro.rows
      .filter((r) => r.alg === alg)
      .map((r) => [r.name, r.mode === 'seq' ? 'one at a time' : `${micro.config.inflight} in flight`, r.error ? `error: ${r.error}` : f(r.cpuUs, 2), f(r.wallUs, 2), int(r.opsPerSec), r.error ? '—' : `${f(r.cpuUs / floor, 2)}×`]);
    out.push(`### ${alg}\n\n${table(['verifier', 'mode', 'CPU µs/op', 'wall µs/op', 'ops/s (wall)', 'CPU ÷ floor'], rows)}`);
  }
  if (!micro.tokenguard.available) out.push(`tokenguard rows missing: ${micro.tokenguard.reason}.`);
  return out.join('\n\n');
}

function httpTables(http) {
  const reps = http.replicas ?? 1;
  const out = [`Settings: ${http.connections} connections, ${int(http.rotation)} distinct RS256 tokens in rotation, ${http.rounds} alternating rounds of ${http.duration} s after a ${http.warm} s warm-up per server; medians. "extra" is a row's median server CPU per request minus bare's.${reps > 1 ? ` Rows marked with several *process medians* ran in ${reps} server processes each; the row shows the best process (the same rule for bare, floor, tokenguard and peers), and every process's own median CPU µs/req is listed.` : ''} *Extra, all rounds pooled* takes the medians over every round of every process of the row and of bare instead, with a bootstrap 90% interval: the range this run's rounds can place the difference in (a target line inside it is not decided by the run); the uncached targets give the same for their ratio to the floor guard's extra, with the rounds of all three rows (guard, floor guard, bare) resampled. *User / system* splits the row's CPU per request into the server's JavaScript (user) and the kernel's work for it (system, mostly TCP); *of which GC pauses* is the part of it the main thread spent paused in garbage collection (from perf_hooks' gc entries; the collector's helper threads are in the CPU but not in the pauses).`];
  for (const [fw, vs] of Object.entries(http.frameworks)) {
    const rows = vs.map((v) =>
      v.error
        ? [v.id, `not measured: ${v.error}`, '', '', '', '', '', '', '', '', '', '', '', '', '', '']
        : [v.id, int(v.reqPerSec), f(v.vsBare, 2), f(v.p99, 1), f(v.cpuPerReq, 1), `${f(v.userPerReq, 1)} / ${f(v.sysPerReq, 1)}`, f(v.gcPerReq, 1), v.kind === 'bare' ? '—' : f(v.extraCpuPerReq, 1), v.kind === 'bare' ? '—' : `${f(v.extraPooled, 1)} (${interval(v.extraInterval)})`, (v.processes ?? []).length > 1 ? v.processes.map((x) => f(x, 1)).join(' / ') : '', pct(v.hitRatio), pct(v.serverBusy), pct(v.irq), pct(v.loadBusy), pct(v.foreign), int(v.non2xx)],
    );
    out.push(`### ${fw}\n\n${table(['guard', 'req/s', '× bare', 'p99 ms', 'server CPU µs/req', 'user / system µs/req', 'of which GC pauses µs/req', 'extra µs/req', 'extra, all rounds pooled (90% interval)', 'process medians µs/req', 'tokenguard cache hits', 'server process busy', 'softirq on server core', 'load process busy', 'others on server core', 'non-2xx/errors'], rows)}`);
  }
  return out.join('\n\n');
}

/** A ratio with its 90% interval, e.g. `0.91 (0.90 to 0.92)`. */
const ratioText = (x, iv) => `${f(x, 2)} (${interval(iv, 2)})`;

/** A paired row against another variant of its group: the uncached guard ÷ the floor guard, this build − the baseline. */
function against(r) {
  if (Number.isFinite(r.vsFloor)) return `extra ÷ floor guard's: ${ratioText(r.vsFloor, r.vsFloorInterval)}`;
  if (Number.isFinite(r.vsOtherUs)) {
    const per = r.vsOtherByProcess ?? [];
    const over = per.length > 1 ? `over ${per.length} processes' medians: ${per.map((x) => f(x, 2)).join(' / ')}` : 'over the cycles of 1 process';
    return `extra − ${r.vsOther === 'tg-baseline' ? "the baseline's" : `${r.vsOther}'s`}: ${ratioText(r.vsOtherUs, r.vsOtherInterval)} µs, ${over}`;
  }
  return '';
}

function pairedTables(paired) {
  const out = [`Settings: ${paired.processes} server process${paired.processes === 1 ? '' : 'es'} per group, each serving the group's variants one at a time, switched every ${paired.sliceMs} ms by the server itself (bare, then each guard, then bare again: a cycle), under one continuous autocannon load (${paired.connections} connections, ${int(paired.rotation)} RS256 tokens) after a ${paired.warm} s warm-up of the same cycling; ${paired.cycles} timed cycles per process. Each guard's slice is compared with bare interpolated between the bare slice before it and the one after; medians over all cycles of all processes, bootstrap 90% intervals. Server CPU is the process's own (user + system); its split is not shown, since the kernel apportions it between the two by clock ticks, too coarse for slices this short. *Per process* lists each process's own median extra. The *control* group serves bare against itself (the method's own check: 0 µs and 1.00× expected).${Object.values(paired.frameworks).some((gs) => gs.some((g) => g.load?.spread === false)) ? ' The *cached-lockstep* group is the cached group again under the load every run had up to session 22: every connection starts at the first token, so all 50 move through the rotation together and the server sees each token ~50 times in a row, its cache entry hot (what the cached rows of sessions 1–21 measured).' : ''} These figures are the cost of each variant's own path inside one process that runs them all: V8 compiles the shared code (node's HTTP, the framework) for all of them at once, so they may differ from the separate-process rows above by up to ~1 µs either way (bench/README.md). The targets are judged on the separate processes.`];
  for (const [fw, groups] of Object.entries(paired.frameworks)) {
    const rows = [];
    for (const g of groups) {
      if (g.error) {
        rows.push([g.id, `not measured: ${g.error}`, '', '', '', '']);
        continue;
      }
      for (const r of g.rows) {
        const isBare = r.kind === 'bare';
        rows.push([
          `${g.id}: ${r.id}`,
          f(r.cpuPerReq, 1),
          isBare ? '—' : ratioText(r.extraCpuPerReq, r.extraInterval),
          isBare ? '—' : ratioText(r.vsBare, r.vsBareInterval),
          against(r),
          isBare ? `${g.cycles} cycles; server ${pct(r.serverBusy)} busy, softirq ${pct(g.irq)}, load ${pct(g.loadBusy)}${g.failed ? `, ${int(g.failed)} non-2xx/errors` : ''}` : (r.processes ?? []).map((x) => f(x, 2)).join(' / '),
        ]);
      }
    }
    out.push(`### ${fw} (paired)\n\n${table(['group: variant', 'server CPU µs/req', 'extra µs/req (90% interval)', 'req/s ÷ bare (90% interval)', 'against another variant (90% interval)', 'per process: extra µs/req'], rows)}`);
  }
  return out.join('\n\n');
}

/** Renders the whole RESULTS.md. */
export function renderReport(res) {
  const m = res.machine;
  const parts = [];
  parts.push('# tokenguard benchmark results');
  parts.push('Written by `bench/run.mjs` — do not edit by hand; rerun `pnpm bench` (full) or `pnpm bench --quick`. See `bench/README.md` for how to read it.');
  if (res.mode !== 'full') parts.push(`> **${res.mode} mode**: shorter runs, fewer rounds${res.mode === 'smoke' ? ', microbenchmark only' : ''}. Treat the numbers as indicative.`);
  if (res.note) parts.push(`> **Note:** ${res.note}`);
  parts.push(
    `## Machine\n\n${table(['CPU', 'cores', 'memory', 'Node.js', 'platform', 'date (UTC)', 'load average at start', 'cores pinned'], [[m.cpu, m.cores, `${m.memGiB} GiB`, m.node, m.platform, m.date, m.loadavg, m.pinned ? 'yes (taskset)' : 'no']])}`,
  );
  parts.push(`## Method

- **Microbenchmark** (\`bench/micro.mjs\`): CPU time from \`process.cpuUsage()\` (the whole process, thread pool included) divided by operations, and wall time, one at a time and with N in flight. The *floor* is the least any verifier must do with \`node:crypto\`: split, base64url-decode and \`JSON.parse\` header and payload, \`crypto.verify\` with a pre-imported \`KeyObject\`. *Uncached* tokenguard verifies tokens it has never seen (cache on, so the insert is included) on a fresh verifier per round (warmed first with other tokens, untimed); *cache hit* cycles 1,000 verified tokens (exp and revocation checks included). Each case runs in processes of its own (${res.micro?.config?.replicas ?? 1} per case, started with \`--no-memory-reducer\`; the collector's helper threads, which \`process.cpuUsage()\` counts, then work only on that case's garbage), every process first runs ${res.micro?.config?.warmRounds ?? 0} untimed rounds exactly like its timed ones (until session 27 the first timed rounds of an uncached tokenguard process still ran code TurboFan had not yet compiled: 60-78 µs, then 39-47, against 31-36 after), every timed window follows a 25 ms pause, and rounds rotate the order of all processes; each process's median is taken, and a case is represented by its best process, floor included.
- **HTTP** (\`bench/http-server.mjs\`, \`bench/load.mjs\`): each server is its own process pinned with \`taskset\` to core ${res.machine.cores - 1}; autocannon runs in another process pinned to core 0, on 127.0.0.1, 50 connections, RS256 tokens from a JWKS served over HTTP on 127.0.0.1.${(res.http ?? res.paired)?.spread === true ? ' Connection *k* starts the token rotation at token *k* × 1,000 ÷ 50, so consecutive requests carry different tokens (autocannon by itself starts every connection at the first token, and since each sends its next request when its last is answered, all 50 moved through the list together: a server saw each token ~50 times in a row, its cache entry hot; `--lockstep` restores that, and up to session 22 every run had it). Req/s and the busy shares are over the load window itself, from the moment autocannon has built its connections (it spends ~0.1–0.8 s doing so with the server idle, which up to session 22 was counted in the window: req/s read ~15% low in 4 s rounds).' : ''}${(res.http ?? res.paired)?.busyPoll === false ? ' The load generator\'s event loop slept between responses (`--load-sleeps`): over 127.0.0.1 the server\'s write of a response then also wakes it, and the server\'s CPU pays for that wake-up.' : ' During timed rounds the load generator\'s event loop polls without sleeping: over 127.0.0.1 the kernel hands a response to autocannon inside the server\'s own write, and a sleeping autocannon had to be woken there (an inter-processor interrupt, dear in this VM), so the server paid for the load generator\'s wake-ups, more the slower it served (session 19: 3 µs per request on bare Express served by createServer(app), 16–20 on the uncached rows). *Load process busy* is its CPU less the loop turns that found nothing to do. The flood section and the rows whose server is unpinned keep the sleeping load generator (two load processes share the load core in the one; the server may use the load core in the other).'} Every server is checked before timing (a valid token gets 200) and every guard after its timed rounds, on the same process (a missing and a forged token get 401; a guard that fails is not reported): a 401 is the one response a bare server never sends, and serving one first left a guard's Express server ~1.3–2.4 µs/request slower for its whole life. Each server is then primed with each of the ${int(res.http?.rotation)} tokens once (so a verified-token cache holds the whole rotation) and warmed up under the same load (full runs: 10 s; with 2 s, up to session 9, a process's first rounds often ran 10–25% slower than its later ones, bare and guards alike, in Express and Fastify). Server CPU per request is measured inside the server (\`process.cpuUsage()\` deltas over IPC) divided by the requests it served. Peers read the same JWKS as tokenguard, each the way its docs pair it with a JWKS endpoint: express-oauth2-jwt-bearer (built-in \`jwksUri\`), express-jwt and koa-jwt with jwks-rsa (cached signing keys), @fastify/jwt with get-jwks (cached JWKs); the target ratio uses these. Rows marked *PEM given directly* hand express-jwt, koa-jwt and @fastify/jwt the public key itself (no key lookup at all, which only makes them faster) and are shown for information. Every server process loads the same modules before building its app (all three frameworks, tokenguard and every peer): loading a module graph changes V8's type feedback for node's own stream and nextTick code and with it what TurboFan inlines, so a bare Fastify server that merely imported @tokenguard/core ran ~2.7 µs/request slower than one that did not (the gap vanishes under \`--no-turbo-inlining\`); the *bare, nothing else loaded* row shows that effect. Every server process also runs with \`--no-memory-reducer\`: V8's memory reducer fires when a process idles a few seconds after start-up (as servers do while the others are primed and timed) and left a process slower for the rest of its life (identical bare Fastify servers: 12.0 vs 15.2 µs/request, by how long each waited). Even so, processes of the very same server still differ by up to ~20% by start-up state (V8 JIT and heap state): target variants (bare, floor guard, tokenguard cached and uncached) therefore run in ${res.http?.replicas ?? 1} processes each and are represented by their best process, under one rule for all. *Uncached* tokenguard runs with \`cache: false\`, so every request is a full verification; it is compared with a *node:crypto floor guard* in the same framework (Bearer header, split, base64url + \`JSON.parse\`, \`crypto.verify\` with a ready \`KeyObject\`, exp/iss/aud), measured the same way in the same run. *node:crypto floor guard, cached* puts the least a verified-token cache does in front of that floor guard (a map from an Authorization value's last 16 characters to the claims of the value verified before; the whole value compared, exp checked; no metrics, revocation or key-set check): the yardstick of the cached rows, shown for information. *Others on server core* is what other processes used of the server's core during the rounds (from /proc/stat): above a few percent, the numbers are noisy. *Softirq on server core* is the kernel's interrupt work there, mostly TCP for the server's own sockets; the server counts as the bottleneck (for the req/s target) when its process CPU plus that softirq time reaches 85% of the core. *express-createServer* is the same Express apps served by \`createServer(app)\` of @tokenguard/express instead of \`app.listen()\`, every row of it bare included: node then builds each request and response on Express's own prototypes, so Express's per-request \`Object.setPrototypeOf\` changes nothing and requests share their hidden classes (bench/README.md, session 18); its targets are judged against its own bare row.
- **Memory** (\`bench/memory.mjs\`, \`node --expose-gc\`): \`heapUsed\` after \`gc()\` before and after verifying 10,000 distinct RS256 tokens (held outside the heap until verified), then after 10,000 more (the cache is bounded at its default 10,000 entries).
- **Unknown-kid flood**: Express + tokenguard (cached) under the same valid-token load, with and without a concurrent fixed-rate stream of correctly signed tokens with random kids (10 connections), alternating rounds after a warm-up with both at once (${res.flood?.warm ?? '—'} s); the JWKS server stays up and counts the fetches the flood causes.${res.flood?.controlRatio === undefined ? '' : ' A third condition, the control, replaces the random-kid stream with the same rate of valid tokens the cache holds (each condition takes each place in the order in turn).'}`);
  parts.push(`## Targets (issue 9)\n\n${summary(res)}`);
  const answers = findings(res);
  if (answers) parts.push(`## Findings (computed from this run)\n\n${answers}`);
  if (res.http) parts.push(`## HTTP: bare vs tokenguard vs peers\n\n${httpTables(res.http)}`);
  if (res.paired?.available) parts.push(`## Paired rounds: bare and guards in one server process (--diagnose)\n\n${pairedTables(res.paired)}`);
  else if (res.paired) parts.push(`## Paired rounds\n\nNot run: ${res.paired.reason}.`);
  if (res.coreProfiles?.length) {
    parts.push(['## Where the time goes inside the core (bench/profile.mjs)', 'The V8 sampling profiler on the measured loop only; µs per operation apportioned from the CPU time measured without the profiler.', ...res.coreProfiles.map((p) => p.markdown)].join('\n\n'));
  }
  if (res.http?.profiles) {
    const out = ['## Where the server time goes (--profile)', 'One extra load run per server under the V8 sampling profiler; shares of the sampled CPU time, turned into µs per request with the median server CPU per request of the timed rounds.'];
    for (const [fw, list] of Object.entries(res.http.profiles)) for (const p of list) out.push(`### ${fw}: ${p.id} (${f(p.cpuPerReq)} µs CPU per request)\n\n${p.markdown}`);
    parts.push(out.join('\n\n'));
  }
  if (res.micro) parts.push(`## Verification microbenchmark\n\n${microTables(res.micro)}`);
  if (res.memory?.available) {
    const x = res.memory;
    parts.push(`## Memory\n\n${table(['measure', 'value'], [['tokens verified (RS256, ' + x.tokenChars + ' chars each)', int(x.tokens)], ['heap before (after gc)', `${f(x.heapBaseMiB)} MiB`], ['heap growth with the cache full', `${f(x.growth10kMiB)} MiB`], ['bytes per cached entry', int(x.bytesPerEntry)], [`heap growth after ${int(x.tokens * 2)} distinct tokens`, `${f(x.growthAfter2xMiB)} MiB`], ['external memory growth', `${f(x.externalGrowthMiB)} MiB`], ['cache hits on the second pass (from the prom-client histogram)', int(x.cacheHitsOnSecondPass)]])}`);
  }
  if (res.flood?.available) {
    const x = res.flood;
    parts.push(`## Unknown-kid flood\n\n${table(['measure', 'value'], [['valid req/s without flood (median)', int(x.quietReqPerSec)], ['valid req/s with flood (median)', int(x.floodReqPerSec)], ['ratio', f(x.ratio, 2)], ['flood rate (random-kid tokens/s)', int(x.floodRatePerSec)], ['flood answers by status', byStatus(x.floodStatus)], ['JWKS fetches caused during the flood', int(x.jwksFetchesDuringFlood)], ['flood seconds in total', f(x.floodSeconds)], ['valid requests that failed during the flood', int(x.validNon2xx)], ['server CPU per valid (cached) request, no flood', `${f(x.cpuPerValidReq)} µs`], ['server CPU per rejected random-kid request (flood alone)', `${f(x.cpuPerFloodReq)} µs`], ['JWKS fetches during the flood-alone run', int(x.jwksFetchesFloodAlone)], ...(x.controlRatio === undefined ? [] : [['control: valid req/s with the same rate of valid cached tokens (median)', int(x.controlReqPerSec)], ['control: ratio', f(x.controlRatio, 2)], ['control: answers by status', byStatus(x.controlStatus)], ['control: valid requests that failed', int(x.validNon2xxControl)], ['server CPU per cached request of the control stream (control alone)', `${f(x.cpuPerControlReq)} µs`], ['flood ratio ÷ control ratio (what rejecting costs beyond serving)', f(x.ratio / x.controlRatio, 3)]]), ['others on server core, rounds without / with flood (median)', x.rounds ? `${pct(median(x.rounds.quiet.map((r) => r.foreign)))} / ${pct(median(x.rounds.flood.map((r) => r.foreign)))}` : '—'], ['valid req/s per round without / with flood' + (x.rounds?.control ? ' / with the control' : ''), x.rounds ? [x.rounds.quiet, x.rounds.flood, ...(x.rounds.control ? [x.rounds.control] : [])].map((rs) => rs.map((r) => int(r.reqPerSec)).join(', ')).join(' / ') : '—']])}\n\nOn a CPU-bound server every extra request takes its CPU from valid ones: the expected ratio is about 1 − flood rate × CPU per rejection ÷ 1 s (with the server core fully busy); a lower ratio means the flood also blocks valid requests. The control sends the same rate of valid tokens the cache holds, so its ratio is what any extra requests at that rate leave on this server (an Express server under \`app.listen()\` spends ~120–160 µs on a cached request): the flood ratio below the control's is what rejecting an unknown kid costs beyond serving a request.`);
  }
  parts.push(`Run took ${f(res.elapsedSeconds, 0)} s. tokenguard: ${res.tokenguard.available ? `available, engines: ${res.tokenguard.engines.join(', ')}, adapters: ${Object.entries(res.tokenguard.adapters).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ')}` : res.tokenguard.reason}.`);
  return `${parts.join('\n\n')}\n`;
}
