// The arithmetic of the paired rounds (see `pairedBench` in run.mjs): slices from the server's boundary records,
// and per cycle each guard's difference from bare, interpolated over the cycle.
import { median, bootstrapMedianDiff } from './common.mjs';

/**
 * The slices between consecutive boundaries (`{ t, userUs, systemUs, requests, next }`, as the paired server
 * records them): which variant served each slice, its requests, its length, CPU per request (user + system; not
 * split, since the kernel apportions the two by clock ticks, too coarse for slices this short), requests per second
 * and the server process's busy fraction.
 */
export function slicesOf(boundaries) {
  const out = [];
  for (let i = 0; i + 1 < boundaries.length; i++) {
    const a = boundaries[i];
    const b = boundaries[i + 1];
    const reqs = b.requests - a.requests;
    const ms = b.t - a.t;
    const cpu = b.userUs + b.systemUs - a.userUs - a.systemUs;
    out.push({ variant: a.next, reqs, ms, cpuPerReq: cpu / reqs, reqPerSec: reqs / (ms / 1000), busy: cpu / (ms * 1000) });
  }
  return out;
}

/**
 * One record per complete cycle (bare, then variants 1 … count − 1, then the next cycle's bare): each variant's
 * slice against bare interpolated between the bare slice before it and the one after, by position (variant j of
 * `count` lies j/count of the way), so a drift of the machine that is linear over the cycle cancels. A cycle with
 * a slice out of order or without requests is skipped.
 * Fields per variant j (index 0 is bare itself): `cpu`, `reqPerSec` and `busy` of the slice, `extra` (µs/request
 * over bare) and `vsBare` (req/s ÷ bare's).
 */
export function pairedCycles(slices, count) {
  const cycles = [];
  for (let i = 0; i + count < slices.length; i++) {
    const a = slices[i];
    const b = slices[i + count];
    if (a.variant !== 0 || b.variant !== 0) continue;
    const run = slices.slice(i, i + count);
    if (run.some((s, j) => s.variant !== j || !(s.reqs > 0)) || !(b.reqs > 0)) continue;
    cycles.push(
      run.map((s, j) => {
        const w = j / count;
        const at = (k) => (1 - w) * a[k] + w * b[k];
        return { cpu: s.cpuPerReq, reqPerSec: s.reqPerSec, busy: s.busy, extra: s.cpuPerReq - at('cpuPerReq'), vsBare: s.reqPerSec / at('reqPerSec') };
      }),
    );
  }
  return cycles;
}

/** A cycle record cut in a process's serving `order` (order[i]: the group index of the i-th variant served), in the group's order. */
export function inGroupOrder(cycle, order) {
  const out = new Array(cycle.length);
  order.forEach((g, i) => {
    out[g] = cycle[i];
  });
  return out;
}

/** Median and bootstrap 90% interval of a list of per-cycle values. */
export function medianWithInterval(values) {
  return { median: median(values), interval: bootstrapMedianDiff(values, [0]) };
}
