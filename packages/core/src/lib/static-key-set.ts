/**
 * A key source over a local JSON Web Key Set (`keys: { keys: [...] }`): tests, air-gapped services.
 */
import type { JWSHeaderParameters } from 'jose';
import type { TokenError } from '../errors.js';
import type { IssuerHealth } from '../types.js';
import { checkJwk } from './jwk-import.js';
import { buildKeySet, isCurrentKey, resolvedFor, selectKey, type BuildResult } from './key-set.js';
import type { KeySource, ResolvedKey } from './key-source.js';
import type { Telemetry } from './telemetry.js';
import { alertRejected, keyNotFound } from './key-errors.js';

/**
 * Builds a {@link KeySource} over a static key set. Throws a `TypeError` when `keys` is not a
 * `{ keys: [...] }` object or holds no usable public verification key. Keys with private members are left
 * out and alerted (an `anomaly` event and a warning).
 * @example createStaticKeySource('https://idp.example/', { keys: [publicJwk] }, ['ES256'], noopTelemetry)
 */
export function createStaticKeySource(issuer: string, keys: unknown, algorithms: readonly string[], telemetry: Telemetry, maxKeys = 100): KeySource {
  const list = typeof keys === 'object' && keys !== null ? (keys as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) throw new TypeError('"keys" must be a JSON Web Key Set object: { keys: [...] }');
  if (list.length > maxKeys) throw new TypeError(`"keys" holds ${list.length} keys, more than "jwks.maxKeys" (${maxKeys})`);
  const usable = list.map(checkJwk).filter((c) => c.ok).length;
  if (usable === 0) throw new TypeError('"keys" holds no usable public verification key (RSA >= 2048 bits, EC P-256/384/521 or Ed25519, no private members)');

  const owner = {};
  const allowed = new Set(algorithms);
  let count = usable;
  let built: Promise<BuildResult> | undefined;
  /** The built set, once `built` has settled with one (for the synchronous refusal). */
  let ready: BuildResult | undefined;
  const load = (): Promise<BuildResult> => {
    built ??= buildKeySet(keys, { maxKeys, owner }).then((r) => {
      ready = r;
      alertRejected(telemetry, issuer, r.rejected);
      count = r.set.entries.length;
      telemetry.keySet(issuer, count, undefined);
      return r;
    });
    return built;
  };

  return {
    issuer,
    async resolve(header: JWSHeaderParameters): Promise<ResolvedKey> {
      let result: BuildResult;
      try {
        result = await load();
      } catch (err) {
        throw keyNotFound(err);
      }
      const sel = selectKey(result.set, header, allowed);
      if (!('entry' in sel)) throw keyNotFound();
      try {
        return await resolvedFor(sel.entry, header.alg!);
      } catch (err) {
        throw keyNotFound(err);
      }
    },
    refusal(header: JWSHeaderParameters): TokenError | undefined {
      // A static set never changes: once built, a header it has no key for is refused at once.
      if (ready === undefined || 'entry' in selectKey(ready.set, header, allowed)) return undefined;
      return keyNotFound();
    },
    isCurrent: (key) => isCurrentKey(key, owner),
    health: (): IssuerHealth => ({ issuer, state: 'fresh', keys: count }),
    close() {},
  };
}
