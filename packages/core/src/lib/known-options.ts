/**
 * Unknown-option checks: a misspelt option (`clockTolarance`, `jwks.cacheMaxage`) is a programmer error, thrown
 * as a `TypeError` that names it (with a "did you mean" hint), never silently ignored.
 */
import type { IssuerConfig, JwksOptions, VerifierOptions } from '../types.js';

/** Every option of {@link VerifierOptions} (typed so adding one to the interface without listing it fails to compile). */
const VERIFIER: Record<keyof VerifierOptions, true> = {
  issuer: true, audience: true, jwksUri: true, keys: true, secret: true, algorithms: true, clockTolerance: true,
  maxTokenAge: true, maxTokenLifetime: true, engine: true, offload: true, strict: true, scopeClaims: true, claims: true,
  getToken: true, credentialsRequired: true, allowQueryToken: true, allowBodyToken: true, maxTokenLength: true,
  realm: true, cache: true, jwks: true, revocation: true, metrics: true, logger: true, onEvent: true,
};
/** Every option of {@link JwksOptions}. */
const JWKS: Record<keyof JwksOptions, true> = { cacheMaxAge: true, cooldown: true, timeout: true, staleIfError: true, maxBytes: true, maxKeys: true };
/** Every field of an {@link IssuerConfig}. */
const ISSUER: Record<keyof IssuerConfig, true> = { issuer: true, jwksUri: true, keys: true, secret: true, algorithms: true, jwks: true };
/** Every option of `cache`. */
const CACHE: Record<keyof Exclude<VerifierOptions['cache'], false | undefined>, true> = { maxEntries: true };
/** Every option of `metrics`. */
const METRICS: Record<keyof Exclude<VerifierOptions['metrics'], false | undefined>, true> = { registry: true, prefix: true };

/** The option names known at each level, for {@link rejectUnknownOptions}. */
export const KNOWN_OPTIONS = Object.freeze({
  verifier: Object.freeze(Object.keys(VERIFIER)),
  jwks: Object.freeze(Object.keys(JWKS)),
  issuer: Object.freeze(Object.keys(ISSUER)),
  cache: Object.freeze(Object.keys(CACHE)),
  metrics: Object.freeze(Object.keys(METRICS)),
});

/** Options the framework adapters take themselves (they strip them before the core sees the rest), by full name. */
const ADAPTER_ONLY: Readonly<Record<string, string>> = {
  passErrors: 'an option of the framework adapters (tokenGuard), not of createTokenVerifier',
  hook: 'an option of the Fastify plugin, not of createTokenVerifier',
  'metrics.path': 'an option of the Fastify plugin, not of createTokenVerifier',
};

/** The adapter-only names under `path`, offered as hints too (a misspelt `hok` reaches the core). */
function adapterNames(path: string): string[] {
  const prefix = path ? `${path}.` : '';
  return Object.keys(ADAPTER_ONLY).filter((n) => n.startsWith(prefix) && !n.slice(prefix.length).includes('.')).map((n) => n.slice(prefix.length));
}

/** Edit distance between two short names, case-insensitive (bounded: option names are short). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length]!;
}

/** The closest known name within a small edit distance, if any. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.ceil(name.length * 0.4)) + 1; // a hint within ~40% of the name's letters
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Throws a `TypeError` naming the first own key of `options` not in `known`, e.g.
 * `unknown option "jwks.cacheMaxage" (did you mean "jwks.cacheMaxAge"?)`. `path` prefixes the names (`'jwks'`,
 * `'issuer[1]'`); empty at the top level.
 * @example
 * rejectUnknownOptions(options.jwks, KNOWN_OPTIONS.jwks, 'jwks');
 */
export function rejectUnknownOptions(options: object, known: readonly string[], path = ''): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const full = path ? `${path}.${key}` : key;
    const adapterOnly = Object.hasOwn(ADAPTER_ONLY, full) ? ADAPTER_ONLY[full] : undefined;
    if (adapterOnly !== undefined) throw new TypeError(`unknown option "${full}": it is ${adapterOnly}`);
    const hint = closest(key, [...known, ...adapterNames(path)]);
    throw new TypeError(`unknown option "${full}"${hint === undefined ? '' : ` (did you mean "${path ? `${path}.${hint}` : hint}"?)`}; known options: ${known.join(', ')}`);
  }
}
