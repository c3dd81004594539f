import { LRUCache } from 'lru-cache';
import type { AuditEvent, AuthInfo } from '../types.js';
import type { KeySource, ResolvedKey } from './key-source.js';

/** One verified token, as the cache keeps it. */
export interface CacheEntry {
  /** The frozen AuthInfo handed out on every hit (no copy, no allocation). */
  readonly auth: AuthInfo;
  /** `exp` in epoch seconds: the entry is never served after it (plus the clock tolerance). */
  readonly exp: number;
  /** `jti`, for the revocation check on every hit. */
  readonly jti: string | undefined;
  /** The key that verified the token and its source: a hit re-checks `source.isCurrent(key)`. */
  readonly key: ResolvedKey;
  readonly source: KeySource;
  /** The audit-event fields of an acceptance, built once. */
  readonly event: Omit<AuditEvent, 'type' | 'time'>;
  /** Set by a hit, cleared when the entry is given a second chance at eviction time (see {@link createTokenCache}). */
  used?: boolean;
  /**
   * The Authorization header value the token first came in, when it ends with the token (see `byHeader`). Usually
   * costs no memory: the token string is a slice of this very string, which it keeps alive anyway.
   */
  header: string | undefined;
}

/** The verified-token cache: bounded by entries, evicting the least recently used (approximately); a hit is the exact token string. */
export interface TokenCache {
  get(token: string): CacheEntry | undefined;
  /** The entry whose `header` is exactly `value` (an Authorization header value), if cached. */
  byHeader(value: string): CacheEntry | undefined;
  set(token: string, entry: CacheEntry): void;
  delete(token: string): void;
  clear(): void;
  readonly size: number;
}

// Looking a token up by the whole string makes V8 hash every character of a string it has never seen (each
// request brings a new one): ~1 µs for an RS256 token. The cache is keyed by a number made of five characters
// near the token's end instead (30 bits of its signature, computed without allocating; a small integer key is
// hashed and stored inline by a Map, so a lookup touches no key string), and a hit is confirmed by comparing the
// whole token, so two tokens sharing a key are never confused: the second one is simply a miss (and if both are
// verified, the later one takes the slot). Only verified tokens are ever stored, and their signatures are not the
// sender's to choose.
const KEY_CHARS = 5;
const SIX_BITS = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SIX_BITS[c.charCodeAt(0)] = i;

function keyOf(token: string): number {
  // The last character of base64url may carry only padding bits: the five before it.
  const end = token.length - 1;
  let key = 0;
  for (let i = end - KEY_CHARS; i < end; i++) key = key * 64 + (i >= 0 ? SIX_BITS[token.charCodeAt(i) & 127]! : 0);
  return key;
}

// Entries looked at, at most, to find one to evict (see createTokenCache).
const SECOND_CHANCES = 16;

/**
 * Creates the verified-token cache (lru-cache, at most `maxEntries` tokens). `onSize` is told the new size
 * whenever it changes. Freshness (exp, revocation, key still published) is the verifier's job on each hit.
 *
 * A hit does not reorder lru-cache's list; it only marks the entry it already holds as used. When an
 * insert would evict, the oldest entries that were used since they were last looked at are moved to the young
 * end instead (a second chance, as in the CLOCK algorithm; at most 16 per insert), so a token in use is not
 * evicted for one that was seen once. The reordering is paid on the rare insert into a full cache, not on every
 * hit: lru-cache's move-to-front touches four list slots at random indices, cold memory in a busy server.
 *
 * Hits are answered from a plain `Map` of the same entries, which lru-cache keeps in step through its `dispose`
 * hook (called for every entry it drops: evicted, replaced, deleted, cleared). `LRUCache#peek` costs a hit an
 * options object, three diagnostics-channel checks and two memory areas (its key map, then its value list) where
 * the `Map` has one (bench/README.md, session 22).
 */
export function createTokenCache(maxEntries: number, onSize: (n: number) => void): TokenCache {
  // Every entry lru-cache holds, by the same key: what hits read.
  const index = new Map<number, CacheEntry>();
  const lru = new LRUCache<number, CacheEntry>({
    max: maxEntries,
    dispose: (entry, key) => {
      if (index.get(key) === entry) index.delete(key);
    },
  });
  // Looks at the oldest entry only, again after each one it moves up: usually the first is unused and is
  // simply evicted by the insert that follows.
  const secondChance = (): void => {
    for (let n = 0; n < SECOND_CHANCES; n++) {
      const oldest = lru.rkeys().next();
      if (oldest.done === true) return;
      const entry = lru.peek(oldest.value);
      if (entry === undefined || entry.used !== true) return;
      entry.used = false;
      lru.get(oldest.value);
    }
  };
  return {
    get(token) {
      const entry = index.get(keyOf(token));
      if (entry === undefined || entry.auth.token !== token) return undefined;
      // Written only when it changes: most hits find it set, and a store would dirty a cold cache line.
      if (entry.used !== true) entry.used = true;
      return entry;
    },
    byHeader(value) {
      // A header value that ends with its token has the token's key (keyOf reads the last characters). Two flat
      // strings are compared: equal values always parse to the same token (see extractWith).
      const entry = index.get(keyOf(value));
      if (entry === undefined || entry.header !== value) return undefined;
      if (entry.used !== true) entry.used = true;
      return entry;
    },
    set(token, entry) {
      const before = lru.size;
      const key = keyOf(token);
      if (before >= maxEntries && !lru.has(key)) secondChance();
      // A replaced entry leaves the index through dispose (during this set), before the new one enters it.
      lru.set(key, entry);
      index.set(key, entry);
      if (lru.size !== before) onSize(lru.size);
    },
    delete(token) {
      const key = keyOf(token);
      if (index.get(key)?.auth.token === token && lru.delete(key)) onSize(lru.size);
    },
    clear() {
      lru.clear();
      index.clear();
      onSize(0);
    },
    get size() {
      return lru.size;
    },
  };
}
