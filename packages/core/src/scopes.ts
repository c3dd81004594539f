import { rejection } from './errors.js';
import { own } from './lib/decode.js';
import { DESCRIPTIONS } from './lib/map-error.js';
import type { AuthInfo } from './types.js';

/** How several required scopes combine: every one (`'all'`, the default) or at least one (`'any'`). */
export interface ScopeOptions {
  mode?: 'all' | 'any';
  /** `realm` of the `insufficient_scope` challenge (assertScopes). Default `'api'`. */
  realm?: string;
}

/** Adds the U+0020-delimited parts of `value` (empty parts dropped) without an intermediate array. */
function addSpaceDelimited(value: string, scopes: Set<string>): void {
  let start = 0;
  while (start < value.length) {
    let end = value.indexOf(' ', start);
    if (end < 0) end = value.length;
    if (end > start) scopes.add(value.slice(start, end));
    start = end + 1;
  }
}

/** The scope claims read by default: `scope` (space-delimited string) and `scp` (string or array). */
export const DEFAULT_SCOPE_CLAIMS = Object.freeze(['scope', 'scp']);

/**
 * Reads scopes from the listed claims (own properties only) and returns their union.
 *
 * - `scope` and other string claims are split on U+0020 SPACE only (RFC 6749 §3.3): `"read,admin"`,
 *   `"read+admin"`, tabs, NBSP and newlines are part of one (useless) scope name; empty parts are dropped.
 * - an array claim (`scp`, `permissions`; never `scope`, which RFC 8693/9068 define as a string) contributes
 *   each string element as it is.
 * - a claim of any other JSON type (number, object, an array holding non-strings) is rejected with
 *   `claim_invalid`: a token that says something unexpected about its own permissions is not trusted.
 *
 * `scopes` is the set to add them to (a new one by default); it is returned.
 *
 * @example parseScopes({ scope: 'orders:read orders:write' }) // Set { 'orders:read', 'orders:write' }
 */
export function parseScopes(claims: Record<string, unknown>, scopeClaims: readonly string[] = DEFAULT_SCOPE_CLAIMS, scopes: Set<string> = new Set<string>()): Set<string> {
  for (const name of scopeClaims) addScopeClaim(name, own(claims, name), scopes);
  return scopes;
}

/** Adds the scopes of one scope claim's value (undefined: the claim is absent) as {@link parseScopes} reads them. */
export function addScopeClaim(name: string, value: unknown, scopes: Set<string>): void {
  if (value === undefined) return;
  if (typeof value === 'string') {
    addSpaceDelimited(value, scopes);
  } else if (Array.isArray(value) && name !== 'scope') {
    for (const part of value) {
      if (typeof part !== 'string') throw rejection('claim_invalid', DESCRIPTIONS.claim);
      if (part !== '') scopes.add(part);
    }
  } else {
    throw rejection('claim_invalid', DESCRIPTIONS.claim);
  }
}

function normalise(required: string | readonly string[]): readonly string[] {
  const list = typeof required === 'string' ? [required] : required;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '' || s.includes(' '))) {
    throw new TypeError('"required" must be a scope or an array of scopes (non-empty strings without spaces)');
  }
  return list;
}

/**
 * Whether `auth` holds the required scopes: all of them (default) or, with `{ mode: 'any' }`, at least
 * one. Exact, case-sensitive matching: `admin` is not granted by `ADMIN`, `administrator` or `admin*`.
 * An empty requirement is satisfied. Undefined `auth` has no scopes.
 * @example hasScopes(req.auth, ['orders:read', 'orders:admin'], { mode: 'any' })
 */
export function hasScopes(auth: Pick<AuthInfo, 'scopes'> | undefined, required: string | readonly string[], options: ScopeOptions = {}): boolean {
  const list = normalise(required);
  if (list.length === 0) return true;
  const scopes = auth?.scopes;
  if (scopes === undefined) return false;
  return options.mode === 'any' ? list.some((s) => scopes.has(s)) : list.every((s) => scopes.has(s));
}

/**
 * Throws an `insufficient_scope` {@link TokenError} (403, challenge with `scope="..."` listing every
 * required scope, for `mode: 'any'` too) unless {@link hasScopes} holds.
 * @example assertScopes(auth, 'orders:write')
 */
export function assertScopes(auth: Pick<AuthInfo, 'scopes'> | undefined, required: string | readonly string[], options: ScopeOptions = {}): void {
  if (hasScopes(auth, required, options)) return;
  const scopes = normalise(required);
  throw rejection('insufficient_scope', DESCRIPTIONS.scope, { scopes, ...(options.realm === undefined ? {} : { realm: options.realm }) });
}
