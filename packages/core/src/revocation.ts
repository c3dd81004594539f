import type { RevocationStore } from './types.js';

/** Options of {@link createMemoryRevocationStore}. */
export interface MemoryRevocationOptions {
  /** Most revoked ids held at once (expired ones are purged first). Default 100 000. */
  maxEntries?: number;
  /** `'closed'` (default) or `'open'`; see {@link RevocationStore.failMode}. */
  failMode?: 'open' | 'closed';
}

/** The in-memory store: also lists what it holds, for tests and admin endpoints. */
export interface MemoryRevocationStore extends RevocationStore {
  /** Synchronous: true while `jti` is revoked and its token has not expired. */
  isRevoked(jti: string): boolean;
  /** Number of revoked ids currently held. */
  readonly size: number;
  /** Forgets every revoked id. */
  close(): void;
}

const GRACE_MS = 5 * 60_000;

function toEpochMs(expiresAt: Date | number): number {
  const ms = expiresAt instanceof Date ? expiresAt.getTime() : typeof expiresAt === 'number' ? expiresAt * 1000 : NaN;
  if (!Number.isFinite(ms)) throw new TypeError('"expiresAt" must be a Date or epoch seconds');
  return ms;
}

/**
 * An in-memory {@link RevocationStore} keyed by `jti`. It forgets an id five minutes after the token it names has
 * expired (a revoked token cannot be presented after `exp` anyway), and it is bounded: when full it purges
 * expired ids, and if still full `revoke()` rejects rather than silently un-revoking another token.
 * `isRevoked` is synchronous, so the verifier's cache-hit path stays allocation-free.
 *
 * @example
 * const revocation = createMemoryRevocationStore();
 * const verifier = createTokenVerifier({ issuer, audience, revocation });
 * await revocation.revoke(auth.claims.jti!, auth.expiresAt);
 */
export function createMemoryRevocationStore(options: MemoryRevocationOptions = {}): MemoryRevocationStore {
  const max = options.maxEntries ?? 100_000;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('"maxEntries" must be a positive integer');
  const failMode = options.failMode ?? 'closed';
  if (failMode !== 'open' && failMode !== 'closed') throw new TypeError('"failMode" must be \'open\' or \'closed\'');
  const revoked = new Map<string, number>();

  function purge(now: number): void {
    for (const [jti, until] of revoked) if (until <= now) revoked.delete(jti);
  }

  return {
    failMode,
    get size() {
      purge(Date.now());
      return revoked.size;
    },
    async revoke(jti: string, expiresAt: Date | number): Promise<void> {
      if (typeof jti !== 'string' || jti === '') throw new TypeError('"jti" must be a non-empty string');
      // Kept a little past `exp`: verifiers accept a token for `clockTolerance` seconds after it.
      const until = toEpochMs(expiresAt) + GRACE_MS;
      const now = Date.now();
      if (until <= now) return;
      if (!revoked.has(jti) && revoked.size >= max) {
        purge(now);
        if (revoked.size >= max) throw new Error('revocation store is full');
      }
      revoked.set(jti, Math.max(until, revoked.get(jti) ?? 0));
    },
    isRevoked(jti: string): boolean {
      // Nothing revoked (the usual state): the jti string is not even hashed.
      if (revoked.size === 0) return false;
      const until = revoked.get(jti);
      if (until === undefined) return false;
      if (until > Date.now()) return true;
      revoked.delete(jti);
      return false;
    },
    close() {
      revoked.clear();
    },
  };
}
