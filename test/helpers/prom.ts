/**
 * A small parser of the Prometheus text exposition format (0.0.4), for tests that read metrics back from
 * `registry.metrics()` or a real `/metrics` scrape and assert exact values per label set.
 */

/** One sample line: `name{labels} value`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition. */
export interface PromText {
  samples: PromSample[];
  /** `# TYPE` per metric family name. */
  types: Map<string, string>;
  /** `# HELP` per metric family name. */
  help: Map<string, string>;
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  const n = Number(raw);
  if (raw === '' || Number.isNaN(n)) throw new Error(`not a sample value: ${JSON.stringify(raw)}`);
  return n;
}

function parseLabels(text: string, start: number, line: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  for (let guard = 0; guard < 1000; guard++) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const eq = text.indexOf('=', i);
    if (eq === -1 || text[eq + 1] !== '"') throw new Error(`bad labels in line: ${line}`);
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) throw new Error(`unterminated label value in line: ${line}`);
    labels[name] = value;
    i = j + 1;
  }
  throw new Error(`too many labels in line: ${line}`);
}

/** Parses an exposition; throws on a line it cannot read. */
export function parseProm(text: string): PromText {
  const out: PromText = { samples: [], types: new Map(), help: new Map() };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m) (m[1] === 'TYPE' ? out.types : out.help).set(m[2]!, m[3]!);
      continue;
    }
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      const parsed = parseLabels(line, brace + 1, line);
      labels = parsed.labels;
      rest = line.slice(parsed.end).trim();
    } else {
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name in line: ${line}`);
    out.samples.push({ name, labels, value: parseValue(rest.split(/\s+/)[0] ?? '') });
  }
  return out;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** The value of the sample with exactly this name and label set, or undefined when there is none. */
export function sample(text: PromText, name: string, labels: Record<string, string> = {}): number | undefined {
  return text.samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value;
}

/** Every sample of a name, as `labels → value` pairs. */
export function samplesOf(text: PromText, name: string): PromSample[] {
  return text.samples.filter((s) => s.name === name);
}

/**
 * The differences `after - before` of every sample of `name` whose value changed, keyed by the
 * label set rendered as `k=v,k=v` (sorted). Handy for "exact increments per label set".
 */
export function increments(before: PromText, after: PromText, name: string): Record<string, number> {
  const key = (l: Record<string, string>) => Object.keys(l).sort().map((k) => `${k}=${l[k]}`).join(',');
  const out: Record<string, number> = {};
  for (const s of samplesOf(after, name)) {
    const prev = sample(before, name, s.labels) ?? 0;
    if (s.value !== prev) out[key(s.labels)] = s.value - prev;
  }
  return out;
}

/**
 * Runs `promtool check metrics` (installed by apt in CI) on an exposition. Resolves with its exit code and output;
 * killed after 10 s.
 */
export async function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (d: Buffer) => (output += String(d)));
    child.stderr.on('data', (d: Buffer) => (output += String(d)));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}
