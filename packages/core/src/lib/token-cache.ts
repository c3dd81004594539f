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
}

/** The verified-token cache: an LRU bounded by entries; a hit is the exact token string. */
export interface TokenCache {
  get(token: string): CacheEntry | undefined;
  set(token: string, entry: CacheEntry): void;
  delete(token: string): void;
  clear(): void;
  readonly size: number;
}

// Looking a token up by the whole string makes V8 hash every character of a string it has never seen (each
// request brings a new one): ~1 µs for an RS256 token. The cache is keyed by the token's last characters
// instead (the end of the signature: 192 bits), and a hit is confirmed by comparing the whole token, so two
// tokens sharing an ending are never confused: the second one is simply a miss.
const SUFFIX = 32;

function keyOf(token: string): string {
  return token.length <= SUFFIX ? token : token.slice(token.length - SUFFIX);
}

/**
 * Creates the verified-token cache (lru-cache, at most `maxEntries` tokens). `onSize` is told the new size
 * whenever it changes. Freshness (exp, revocation, key still published) is the verifier's job on each hit.
 */
export function createTokenCache(maxEntries: number, onSize: (n: number) => void): TokenCache {
  const lru = new LRUCache<string, CacheEntry>({ max: maxEntries });
  return {
    get(token) {
      const entry = lru.get(keyOf(token));
      return entry !== undefined && entry.auth.token === token ? entry : undefined;
    },
    set(token, entry) {
      const before = lru.size;
      lru.set(keyOf(token), entry);
      if (lru.size !== before) onSize(lru.size);
    },
    delete(token) {
      const key = keyOf(token);
      if (lru.peek(key)?.auth.token === token && lru.delete(key)) onSize(lru.size);
    },
    clear() {
      lru.clear();
      onSize(0);
    },
    get size() {
      return lru.size;
    },
  };
}
