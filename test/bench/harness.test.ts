/**
 * Smoke test of the benchmark harness (bench/run.mjs): runs the microbenchmark for a few hundred operations in a
 * child process and checks that it writes a well-formed RESULTS table. It asserts shape, never speed: speed is
 * shown by `pnpm bench`, not by a timed unit test.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

interface MicroRow { alg: string; name: string; group: string; mode: string; cpuUs: number; wallUs: number; error: string | null }
interface Results { mode: string; machine: { node: string; cores: number }; micro: { rows: MicroRow[]; config: { algs: string[] } }; tokenguard: { available: boolean } }

/** Parses the markdown tables under a heading into rows of cells. */
function tableAfter(md: string, heading: string): string[][] {
  const start = md.indexOf(heading);
  if (start < 0) return [];
  const lines = md.slice(start + heading.length).split('\n');
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(line.split('|').slice(1, -1).map((c) => c.trim()));
    } else if (inTable) break;
  }
  return rows;
}

describe('bench harness (smoke)', () => {
  let dir: string;
  let md: string;
  let json: Results;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-bench-'));
    const out = join(dir, 'RESULTS.md');
    const jsonOut = join(dir, 'results.json');
    await new Promise<void>((resolveRun, reject) => {
      execFile(process.execPath, [join(ROOT, 'bench', 'run.mjs'), '--smoke', `--out=${out}`, `--json=${jsonOut}`], { cwd: ROOT, timeout: 25_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) =>
        err ? reject(new Error(`bench/run.mjs --smoke failed: ${err.message}\n${stderr.slice(-2000)}`)) : resolveRun(),
      );
    });
    md = readFileSync(out, 'utf8');
    json = JSON.parse(readFileSync(jsonOut, 'utf8')) as Results;
  }, 30_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('describes the machine it ran on', () => {
    const rows = tableAfter(md, '## Machine');
    expect(rows[0]).toEqual(['CPU', 'cores', 'memory', 'Node.js', 'platform', 'date (UTC)', 'load average at start', 'cores pinned']);
    expect(rows[2]?.[3]).toBe(process.version);
    expect(Number(rows[2]?.[1])).toBeGreaterThanOrEqual(1);
    expect(json.mode).toBe('smoke');
  });

  it.each(['RS256', 'ES256', 'EdDSA'])('has a microbenchmark table for %s with the floor, jose and fast-jwt measured', (alg) => {
    const rows = tableAfter(md, `### ${alg}`);
    expect(rows[0]).toEqual(['verifier', 'mode', 'CPU µs/op', 'wall µs/op', 'ops/s (wall)', 'CPU ÷ floor']);
    const body = rows.slice(2);
    const byName = (prefix: string) => body.filter((r) => r[0]?.startsWith(prefix));
    expect(byName('node:crypto floor')[0]?.[5]).toBe('1.00×');
    for (const prefix of ['node:crypto floor', 'jose jwtVerify, CryptoKey', 'jose jwtVerify, KeyObject', 'fast-jwt']) {
      const found = byName(prefix);
      expect(found.length).toBeGreaterThan(0);
      for (const r of found) expect(Number(r[2])).toBeGreaterThan(0);
    }
    // The raw numbers behind the table are finite and positive, and no baseline case failed.
    const raw = json.micro.rows.filter((r) => r.alg === alg && !r.group.startsWith('tg-'));
    expect(raw.length).toBeGreaterThanOrEqual(7);
    for (const r of raw) {
      expect(r.error).toBeNull();
      expect(r.cpuUs).toBeGreaterThan(0);
      expect(Number.isFinite(r.wallUs)).toBe(true);
    }
  });

  // Runs on the built packages (CI builds with `tsc -b` before jest).
  it('measures tokenguard cached and uncached and grades them against the targets', () => {
    expect(json.tokenguard.available).toBe(true);
    const tg = json.micro.rows.filter((r) => r.group.startsWith('tg-'));
    expect(tg.filter((r) => r.group.startsWith('tg-cached')).length).toBeGreaterThanOrEqual(3);
    expect(tg.filter((r) => r.group.startsWith('tg-uncached')).length).toBeGreaterThanOrEqual(3);
    for (const r of tg) expect(r.error).toBeNull();
    const targets = tableAfter(md, '## Targets');
    expect(targets[0]).toEqual(['target', 'measured', 'limit', 'result']);
    const graded = targets.slice(2).filter((r) => /cache hit.* inside the core|uncached verify/.test(r[0] ?? ''));
    expect(graded.length).toBe(tg.filter((r) => r.group.startsWith('tg-cached') || r.group.startsWith('tg-request') || (r.group.startsWith('tg-uncached') && r.mode === 'seq')).length);
    // The uncached target is judged on the default engine; the other engines (jose, offload) are findings.
    for (const r of graded) {
      const other = /uncached verify/.test(r[0] ?? '') && /\((jose|node, offload)\) \(micro\)$/.test(r[0] ?? '');
      expect(r[3]).toMatch(other ? /^finding: (within|over)$/ : /^\*\*(pass|FAIL)\*\*$/);
    }
    expect(graded.some((r) => /^uncached verify\(\).*\(node\) \(micro\)$/.test(r[0] ?? ''))).toBe(true);
  });

  it("reports the floor's two parts for each algorithm, from the floor and crypto.verify rows of the run", () => {
    const line = md.split('\n').find((l) => l.startsWith('- **The host, as the microbenchmark found it**'));
    expect(line).toBeDefined();
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const floor = json.micro.rows.find((r) => r.alg === alg && r.group === 'floor' && r.mode === 'seq');
      const sig = json.micro.rows.find((r) => r.alg === alg && r.group === 'sig' && r.mode === 'seq');
      const m = new RegExp(`${alg} \`crypto\\.verify\` ([\\d.]+) µs and the rest (-?[\\d.]+) µs`).exec(line ?? '');
      expect(m).not.toBeNull();
      expect(m?.[1]).toBe(sig!.cpuUs.toFixed(1));
      expect(m?.[2]).toBe((floor!.cpuUs - sig!.cpuUs).toFixed(1));
    }
  });
});
