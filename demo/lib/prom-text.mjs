/**
 * Reads the Prometheus text exposition format that prom-client serves on `/metrics`, so the live summary
 * shows what the APIs themselves report (not what the demo thinks it sent).
 */

/**
 * @typedef {object} Sample
 * @property {string} name metric name, e.g. `tokenguard_rejections_total`
 * @property {Record<string, string>} labels
 * @property {number} value
 */

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses exposition text into samples; comments, blank and unparsable lines are skipped.
 * @param {string} text
 * @returns {Sample[]}
 * @example parseMetrics('a_total{x="1"} 3\n') // [{ name: 'a_total', labels: { x: '1' }, value: 3 }]
 */
export function parseMetrics(text) {
  /** @type {Sample[]} */
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    const value = Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1], labels, value });
  }
  return samples;
}

/**
 * Sums the samples of one metric whose labels match every given label.
 * @param {Sample[]} samples
 * @param {string} name
 * @param {Record<string, string>} [where]
 * @returns {number} 0 when nothing matches
 */
export function sum(samples, name, where = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/**
 * Sums one metric per value of one label, e.g. rejections per `reason`. Zero entries are left out.
 * @param {Sample[]} samples
 * @param {string} name
 * @param {string} label
 * @returns {Record<string, number>}
 */
export function byLabel(samples, name, label) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const s of samples) {
    const key = s.labels[label];
    if (s.name !== name || key === undefined || s.value === 0) continue;
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/**
 * GETs a `/metrics` URL and parses it, within `timeoutMs`.
 * @param {string} url
 * @param {number} [timeoutMs]
 * @returns {Promise<Sample[]>}
 */
export async function scrape(url, timeoutMs = 2000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return parseMetrics(await res.text());
}
