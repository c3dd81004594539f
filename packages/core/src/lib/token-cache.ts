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

/** The verified-token cache: an LRU bounded by entries, keyed by the exact token string. */
export interface TokenCache {
  get(token: string): CacheEntry | undefined;
  set(token: string, entry: CacheEntry): void;
  delete(token: string): void;
  clear(): void;
  readonly size: number;
}

/**
 * Creates the verified-token cache (lru-cache, at most `maxEntries` tokens). `onSize` is told the new size
 * whenever it changes. Freshness (exp, revocation, key still published) is the verifier's job on each hit.
 */
export function createTokenCache(maxEntries: number, onSize: (n: number) => void): TokenCache {
  const lru = new LRUCache<string, CacheEntry>({ max: maxEntries });
  return {
    get: (token) => lru.get(token),
    set(token, entry) {
      const before = lru.size;
      lru.set(token, entry);
      if (lru.size !== before) onSize(lru.size);
    },
    delete(token) {
      if (lru.delete(token)) onSize(lru.size);
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
