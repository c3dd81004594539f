/**
 * The benchmark's bootstrap intervals (bench/lib/common.mjs): for a difference of medians (`bootstrapMedianDiff`),
 * which RESULTS.md prints beside each HTTP row's extra CPU, and for a ratio of two extras over one base
 * (`bootstrapMedianRatio`), beside each uncached row's ratio to the floor guard. bench/ is plain ESM run by node, so
 * the functions are called in a node child process, as the benchmark calls them.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const COMMON = pathToFileURL(resolve(__dirname, '..', '..', 'bench', 'lib', 'common.mjs')).href;

/** `bootstrapMedianDiff(a, b)` computed by node; NaN comes back as null (JSON). */
function interval(a: number[], b: number[]): Promise<[number | null, number | null]> {
  return inNode('bootstrapMedianDiff', [a, b]);
}

/** `bootstrapMedianRatio(a, b, base)` computed by node. */
function ratioInterval(a: number[], b: number[], base: number[]): Promise<[number | null, number | null]> {
  return inNode('bootstrapMedianRatio', [a, b, base]);
}

function inNode(name: string, lists: number[][]): Promise<[number | null, number | null]> {
  const script = `import(${JSON.stringify(COMMON)}).then((m) => process.stdout.write(JSON.stringify(m.${name}(...${JSON.stringify(lists)}))))`;
  return new Promise((done, fail) => {
    execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err, stdout) => (err ? fail(err) : done(JSON.parse(stdout) as [number | null, number | null])));
  });
}

/** n values spread evenly around `centre` (±`spread`), in a scrambled order. */
function noisy(centre: number, spread: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => centre + spread * (((i * 7) % n) / (n - 1) - 0.5) * 2);
}

describe('bench bootstrap interval of a difference of medians', () => {
  it('is exact when neither side varies', async () => {
    expect(await interval([130, 130, 130, 130, 130], [120, 120, 120])).toEqual([10, 10]);
  });

  it('holds the true difference of two noisy samples, and is the same on every call (fixed seed)', async () => {
    const a = noisy(130, 6, 15);
    const b = noisy(122, 6, 15);
    const [lo, hi] = (await interval(a, b)) as [number, number];
    expect(lo).toBeLessThan(8);
    expect(hi).toBeGreaterThan(8);
    expect(hi - lo).toBeLessThan(12);
    expect(await interval(a, b)).toEqual([lo, hi]);
  });

  it('includes 0 when the two samples are the same, and widens with fewer rounds', async () => {
    const b = noisy(120, 6, 15);
    const [lo, hi] = (await interval(b, b)) as [number, number];
    expect(lo).toBeLessThan(0);
    expect(hi).toBeGreaterThan(0);
    const few = noisy(120, 6, 5);
    const [flo, fhi] = (await interval(few, few)) as [number, number];
    expect(fhi - flo).toBeGreaterThan(hi - lo);
  });

  it('is unknown (NaN) when a side has no finite rounds', async () => {
    expect(await interval([], [1, 2, 3])).toEqual([null, null]);
    expect(await interval([1, 2], [Number.NaN])).toEqual([null, null]);
  });
});

describe('bench bootstrap interval of a ratio of extras over a common base', () => {
  it('is exact when nothing varies', async () => {
    expect(await ratioInterval([130, 130, 130], [150, 150, 150, 150], [110, 110])).toEqual([0.5, 0.5]);
  });

  it('holds the true ratio of noisy samples and excludes a ratio the rounds rule out', async () => {
    // extras 60 and 50 over a base of 100: the true ratio is 1.2
    const [lo, hi] = (await ratioInterval(noisy(160, 4, 15), noisy(150, 4, 15), noisy(100, 4, 15))) as [number, number];
    expect(lo).toBeLessThan(1.2);
    expect(hi).toBeGreaterThan(1.2);
    expect(lo).toBeGreaterThan(1);
  });

  it('is unknown (NaN) when a list has no finite rounds', async () => {
    expect(await ratioInterval([1, 2], [3, 4], [])).toEqual([null, null]);
  });
});
