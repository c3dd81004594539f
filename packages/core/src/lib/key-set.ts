/**
 * One parsed key set (the keys of one issuer at one moment) and key selection for a token header.
 * Shared by the static and the remote key sources.
 */
import type { JWSHeaderParameters } from 'jose';
import { checkJwk, defaultAlgorithm, KEY_SET_ALGORITHMS, importFor, keyFitsAlg, thumbprint, type CheckedJwk, type JwkRejection } from './jwk-import.js';
import type { ResolvedKey } from './key-source.js';

/** A key of a set. Survives a refresh as the same object when its kid and thumbprint are unchanged. */
export interface KeyEntry {
  readonly checked: CheckedJwk;
  readonly kid: string | undefined;
  readonly thumbprint: string;
  /** The source the entry belongs to: a key of one issuer is never current for another. */
  readonly owner: object;
  /** False once a refresh no longer lists the key. */
  current: boolean;
  /** One ResolvedKey per algorithm, created on first use and reused so identity holds. */
  readonly byAlg: Map<string, Promise<ResolvedKey>>;
}

/** Why a key-set document or one of its keys was not taken. */
export type KeyRejection = JwkRejection | 'duplicate_kid' | 'import_failed';

/** A key set failure: the message is safe to log and to show in `health().lastError`. */
export class KeySetError extends Error {
  override readonly name = 'KeySetError';
}

/** An immutable snapshot of one issuer's usable keys. */
export interface KeySet {
  readonly entries: readonly KeyEntry[];
  readonly byKid: ReadonlyMap<string, KeyEntry>;
}

/** Outcome of {@link buildKeySet}: the set, what changed against the previous set, and what was refused. */
export interface BuildResult {
  set: KeySet;
  added: KeyEntry[];
  removed: KeyEntry[];
  rejected: { reason: KeyRejection; kid: string | undefined; thumbprint?: string }[];
}

const ENTRY_OF = new WeakMap<ResolvedKey, KeyEntry>();

/** Longest kid looked up; longer ones are refused without any fetch. */
export const MAX_KID_LENGTH = 1024;

function identity(kid: string | undefined, tp: string): string {
  return `${kid === undefined ? '' : `k:${kid}`}|${tp}`;
}

/**
 * Parses and validates a JWKS document into a {@link KeySet}. Keys that fail validation are left out (and
 * listed in `rejected`); several keys with one `kid` but different key material are all left out (nobody can
 * tell which the issuer meant); exact repeats collapse into the first. Entries whose kid and thumbprint match
 * an entry of `previous` reuse that entry, so resolved keys keep their identity.
 * Throws {@link KeySetError} when the document is not a key set, holds more than `maxKeys` keys, or leaves no
 * usable key.
 */
export async function buildKeySet(doc: unknown, opts: { maxKeys: number; owner: object; previous?: KeySet }): Promise<BuildResult> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KeySetError('key set is not a JSON object');
  const list = Object.prototype.hasOwnProperty.call(doc, 'keys') ? (doc as { keys: unknown }).keys : undefined;
  if (!Array.isArray(list)) throw new KeySetError('key set has no "keys" array');
  if (list.length > opts.maxKeys) throw new KeySetError(`key set has ${list.length} keys, more than the cap of ${opts.maxKeys}`);

  const rejected: BuildResult['rejected'] = [];
  const checked = await Promise.all(
    list.map(async (item) => {
      const c = checkJwk(item);
      if (!c.ok) {
        rejected.push({ reason: c.reason, kid: c.kid });
        return undefined;
      }
      return { key: c.key, tp: await thumbprint(c.key) };
    }),
  );

  // Group by kid to find conflicting duplicates.
  const byKid = new Map<string, { key: CheckedJwk; tp: string }[]>();
  for (const c of checked) if (c && c.key.kid !== undefined) byKid.set(c.key.kid, [...(byKid.get(c.key.kid) ?? []), c]);
  const previous = new Map<string, KeyEntry>();
  for (const e of opts.previous?.entries ?? []) previous.set(identity(e.kid, e.thumbprint), e);

  const seen = new Set<string>();
  const candidates: { key: CheckedJwk; tp: string; reused?: KeyEntry }[] = [];
  for (const c of checked) {
    if (!c) continue;
    const id = identity(c.key.kid, c.tp);
    if (seen.has(id)) continue;
    seen.add(id);
    const same = c.key.kid === undefined ? [c] : byKid.get(c.key.kid)!;
    if (same.some((o) => o.tp !== c.tp)) {
      rejected.push({ reason: 'duplicate_kid', kid: c.key.kid, thumbprint: c.tp });
      continue;
    }
    const reused = previous.get(id);
    candidates.push(reused ? { ...c, reused } : c);
  }

  // Import new keys once now, so a key WebCrypto refuses (off-curve point, bad modulus) never enters the set.
  const entries = (
    await Promise.all(
      candidates.map(async (c): Promise<KeyEntry | undefined> => {
        if (c.reused) return c.reused;
        const entry: KeyEntry = { checked: c.key, kid: c.key.kid, thumbprint: c.tp, owner: opts.owner, current: true, byAlg: new Map() };
        const alg = defaultAlgorithm(c.key)!;
        try {
          await resolvedFor(entry, alg);
          return entry;
        } catch {
          rejected.push({ reason: 'import_failed', kid: c.key.kid, thumbprint: c.tp });
          return undefined;
        }
      }),
    )
  ).filter((e): e is KeyEntry => e !== undefined);

  if (entries.length === 0) throw new KeySetError('key set has no usable verification key');
  const set: KeySet = { entries, byKid: new Map(entries.filter((e) => e.kid !== undefined).map((e) => [e.kid!, e])) };
  const kept = new Set(entries);
  const removed = (opts.previous?.entries ?? []).filter((e) => !kept.has(e));
  const added = entries.filter((e) => !opts.previous?.entries.includes(e));
  return { set, added, removed, rejected };
}

/** The ResolvedKey of `entry` for `alg`, imported once and then reused (same object every time). */
export function resolvedFor(entry: KeyEntry, alg: string): Promise<ResolvedKey> {
  let p = entry.byAlg.get(alg);
  if (!p) {
    p = importFor(entry.checked, alg).then((key) => {
      const rk: ResolvedKey = Object.freeze({ key, kid: entry.kid, jwk: entry.checked.jwk as Readonly<Record<string, unknown>> });
      ENTRY_OF.set(rk, entry);
      return rk;
    });
    entry.byAlg.set(alg, p);
    p.catch(() => entry.byAlg.delete(alg));
  }
  return p;
}

// The key {@link isCurrentKey} looked up last, and its entry (a key's entry never changes; its `current` flag is read
// anew each time). Nearly every cache hit asks about the key of the hit before it: the WeakMap lookup is skipped.
let lastKey: ResolvedKey | undefined;
let lastEntry: KeyEntry | undefined;

/** Whether `key` came from a current entry of `owner`'s set. O(1); called on every cache hit. */
export function isCurrentKey(key: ResolvedKey, owner: object): boolean {
  let entry = lastEntry;
  if (key !== lastKey) {
    entry = ENTRY_OF.get(key);
    lastKey = key;
    lastEntry = entry;
  }
  return entry !== undefined && entry.owner === owner && entry.current;
}

/** Result of {@link selectKey}. `unknown` means a refetch might find the key. */
export type Selection = { entry: KeyEntry } | { miss: 'unknown' | 'no_fit' | 'ambiguous' | 'bad_kid' };

/**
 * Selects the key for a header: by `kid` when present (a non-string or oversized kid never matches); without a
 * kid, the single key that fits the alg (several → ambiguous). The key must fit the header `alg`.
 */
export function selectKey(set: KeySet | undefined, header: JWSHeaderParameters, algorithms: ReadonlySet<string>): Selection {
  const alg = header.alg;
  // An alg no key-set key can serve (HS*, 'none', unknown) never triggers a refetch.
  if (typeof alg !== 'string' || !algorithms.has(alg) || !KEY_SET_ALGORITHMS.has(alg)) return { miss: 'no_fit' };
  const kid: unknown = Object.prototype.hasOwnProperty.call(header, 'kid') ? header.kid : undefined;
  if (kid !== undefined) {
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) return { miss: 'bad_kid' };
    const entry = set?.byKid.get(kid);
    if (!entry) return { miss: 'unknown' };
    return keyFitsAlg(entry.checked, alg) ? { entry } : { miss: 'no_fit' };
  }
  const fits = (set?.entries ?? []).filter((e) => keyFitsAlg(e.checked, alg));
  if (fits.length === 1) return { entry: fits[0]! };
  return { miss: fits.length === 0 ? 'unknown' : 'ambiguous' };
}
