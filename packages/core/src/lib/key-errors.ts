/**
 * The TokenErrors key sources reject with, and the alert for refused keys. Descriptions come from a fixed set:
 * they never echo a kid, a URL or key material.
 */
import { TokenError, rejection } from '../errors.js';
import type { KeyRejection } from './key-set.js';
import type { Telemetry } from './telemetry.js';

/** `key_not_found`: the key set is known and holds no key for this token. */
export function keyNotFound(cause?: unknown): TokenError {
  return rejection('key_not_found', 'No matching key found for the token', cause === undefined ? {} : { cause });
}

/** `jwks_unavailable` (503): the key is unknown and the key set cannot be fetched now. */
export function jwksUnavailable(retryAfterSeconds: number, cause?: unknown): TokenError {
  const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
  return rejection('jwks_unavailable', 'The signing keys are temporarily unavailable', cause === undefined ? { retryAfter } : { retryAfter, cause });
}

/**
 * Reports keys a set was refused for. Private keys in a public key set are a leak on the issuer's side:
 * an `anomaly` event when one first appears (`known` holds the kids alerted on by the previous fetch and is
 * updated), and one warning per key. Other refusals warn once per reason.
 */
export function alertRejected(
  telemetry: Telemetry,
  issuer: string,
  rejected: readonly { reason: KeyRejection; kid: string | undefined; thumbprint?: string }[],
  known: Set<string> = new Set(),
): void {
  const previous = new Set(known);
  known.clear();
  for (const r of rejected) {
    if (r.reason === 'private') {
      known.add(r.kid ?? '');
      if (previous.has(r.kid ?? '')) continue;
      telemetry.event({ type: 'anomaly', kind: 'jwks_private_key', issuer, ...(r.kid === undefined ? {} : { kid: r.kid }), message: 'key set publishes a private or symmetric key; the key was refused' });
      telemetry.warnOnce(`jwks-private:${issuer}:${r.kid ?? ''}`, { issuer, kid: r.kid }, 'tokenguard: the issuer key set publishes a private or symmetric key; it was refused');
    } else {
      telemetry.warnOnce(`jwks-refused:${issuer}:${r.reason}`, { issuer, kid: r.kid, reason: r.reason }, `tokenguard: a key of the issuer key set was refused (${r.reason})`);
    }
  }
}
