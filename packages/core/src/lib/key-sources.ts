/**
 * The key-source factory: one {@link KeySource} per configured issuer, from (first match wins) an explicit
 * `jwksUri`, a static `keys` set, an HS* `secret`, or else discovery from the issuer's metadata.
 */
import type { JwksOptions } from '../types.js';
import { parseHttpUrl } from './bounded-fetch.js';
import { toSeconds } from './duration.js';
import { KNOWN_OPTIONS, rejectUnknownOptions } from './known-options.js';
import type { KeySource } from './key-source.js';
import { createRemoteKeySource } from './remote-key-set.js';
import { createSecretKeySource } from './secret-key.js';
import { createStaticKeySource } from './static-key-set.js';
import type { Telemetry } from './telemetry.js';

/** Where one issuer's keys come from. See {@link createKeySource}. */
export interface KeySourceConfig {
  /** The configured issuer (exact string; discovery requires the metadata `issuer` to equal it). */
  issuer: string;
  /** Explicit JWKS URL (http or https). */
  jwksUri?: string;
  /** A static JSON Web Key Set. */
  keys?: { keys: object[] };
  /** HS256/384/512 shared secret (only with HS* `algorithms`). */
  secret?: string | Uint8Array;
  /** The algorithm allowlist for this issuer. */
  algorithms: string[];
  /** Remote key-set settings. */
  jwks: JwksOptions;
}

/** What a key source needs from the verifier. */
export interface KeySourceDeps {
  telemetry: Telemetry;
  /** The fetch implementation for remote key sets and discovery. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** Remote key-set settings with defaults applied, in seconds and bytes. */
export interface ResolvedJwksOptions {
  cacheMaxAge: number;
  cooldown: number;
  timeout: number;
  staleIfError: number;
  maxBytes: number;
  maxKeys: number;
}

/** Defaults of {@link JwksOptions}. */
export const JWKS_DEFAULTS: Readonly<ResolvedJwksOptions> = Object.freeze({
  cacheMaxAge: 600, cooldown: 30, timeout: 5, staleIfError: 86_400, maxBytes: 262_144, maxKeys: 100,
});

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw new TypeError(`"${name}" must be a positive integer`);
  return value;
}

/** Applies defaults to `jwks` options and validates them (a `TypeError` naming the option). */
export function resolveJwksOptions(jwks: JwksOptions | undefined): ResolvedJwksOptions {
  if (jwks !== undefined && (typeof jwks !== 'object' || jwks === null)) throw new TypeError('"jwks" must be an object');
  const o = jwks ?? {};
  rejectUnknownOptions(o, KNOWN_OPTIONS.jwks, 'jwks');
  const d = JWKS_DEFAULTS;
  const seconds = (v: JwksOptions['timeout'], name: string, fallback: number) => (v === undefined ? fallback : toSeconds(v, `jwks.${name}`));
  const timeout = seconds(o.timeout, 'timeout', d.timeout);
  if (timeout <= 0) throw new TypeError('"jwks.timeout" must be more than 0');
  const cacheMaxAge = seconds(o.cacheMaxAge, 'cacheMaxAge', d.cacheMaxAge);
  if (cacheMaxAge <= 0) throw new TypeError('"jwks.cacheMaxAge" must be more than 0');
  return {
    cacheMaxAge,
    cooldown: seconds(o.cooldown, 'cooldown', d.cooldown),
    timeout,
    staleIfError: seconds(o.staleIfError, 'staleIfError', d.staleIfError),
    maxBytes: positiveInt(o.maxBytes, 'jwks.maxBytes', d.maxBytes),
    maxKeys: positiveInt(o.maxKeys, 'jwks.maxKeys', d.maxKeys),
  };
}

/** Checks an absolute http(s) URL option and returns it parsed. */
export function httpUrl(value: unknown, name: string): URL {
  const url = parseHttpUrl(value);
  if (!url) throw new TypeError(`"${name}" must be an absolute http:// or https:// URL without credentials`);
  return url;
}

/**
 * Builds the key source of one issuer. Options are validated here (a `TypeError` naming the option).
 * The first of `jwksUri`, `keys`, `secret` given wins; with none, keys are found by discovery from
 * `${issuer}/.well-known/openid-configuration`, then RFC 8414 `/.well-known/oauth-authorization-server`.
 * @example
 * const source = createKeySource({ issuer, jwksUri, algorithms: ['ES256'], jwks: { cooldown: '30s' } }, { telemetry })
 * const { key } = await source.resolve(protectedHeader)
 */
export function createKeySource(config: KeySourceConfig, deps: KeySourceDeps): KeySource {
  if (typeof config !== 'object' || config === null) throw new TypeError('key source config must be an object');
  const { issuer, algorithms } = config;
  if (typeof issuer !== 'string' || issuer.length === 0) throw new TypeError('"issuer" must be a non-empty string');
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => typeof a !== 'string' || a.length === 0)) {
    throw new TypeError('"algorithms" must be a non-empty array of algorithm names');
  }
  const jwks = resolveJwksOptions(config.jwks);
  if (config.jwksUri !== undefined) {
    const url = httpUrl(config.jwksUri, 'jwksUri');
    return createRemoteKeySource({ issuer, algorithms, jwks, jwksUri: url }, deps);
  }
  if (config.keys !== undefined) return createStaticKeySource(issuer, config.keys, algorithms, deps.telemetry, jwks.maxKeys);
  if (config.secret !== undefined) return createSecretKeySource(issuer, config.secret, algorithms);
  httpUrl(issuer, 'issuer');
  return createRemoteKeySource({ issuer, algorithms, jwks }, deps);
}
