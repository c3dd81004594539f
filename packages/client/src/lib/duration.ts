/** A duration: a number is seconds; a string takes a unit (`'500ms'`, `'30s'`, `'10m'`, `'1h'`, `'1d'`). */
export type Duration = number | string;

const MS_PER_UNIT = new Map<string, number>([
  ['ms', 1], ['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000],
]);

/**
 * Milliseconds of a {@link Duration}; `fallback` (ms) when undefined. Throws a `TypeError` naming the option
 * for anything else than a finite, non-negative duration. (The client has no runtime dependency on
 * `@tokenguard/core`, hence its own tiny parser with the same grammar.)
 */
export function durationMs(value: Duration | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
    if (m) return Number(m[1]) * (MS_PER_UNIT.get(m[2] ?? 's') ?? 1000);
  }
  throw new TypeError(`"${option}" must be a non-negative number of seconds or a duration string like '500ms', '30s', '10m'`);
}
