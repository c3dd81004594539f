/** A duration: a number is seconds; a string takes a unit (`'500ms'`, `'30s'`, `'10m'`, `'1h'`, `'1d'`). */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600, hr: 3600, d: 86400, day: 86400, w: 604800 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|hr|d|day|w)?$/;

/**
 * Parses a {@link Duration} into seconds. Throws a `TypeError` naming `name` when the value is not a
 * finite, non-negative duration.
 * @example toSeconds('10m', 'jwks.cacheMaxAge') // 600
 */
export function toSeconds(value: Duration, name: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) return Number(match[1]) * UNITS[match[2] ?? 's']!;
  }
  throw new TypeError(`"${name}" must be a non-negative number of seconds or a duration string like '30s', '10m', '1h'`);
}

/** Like {@link toSeconds} but returns `fallback` when `value` is undefined. */
export function optionalSeconds(value: Duration | undefined, name: string, fallback: number): number {
  return value === undefined ? fallback : toSeconds(value, name);
}
