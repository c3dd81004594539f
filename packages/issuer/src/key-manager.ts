import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from '@tokenguard/core';
import type { SigningAlgorithm } from './config.js';
import type { IssuerEvent } from './events.js';
import type { IssuerStore, StoredKey } from './store.js';

/** Lifecycle state of a signing key. */
export type KeyState = 'next' | 'active' | 'retired';

/** A signing key as `keys list` and `issuer.keys()` show it (never with private material). */
export interface KeyInfo {
  kid: string;
  alg: SigningAlgorithm;
  state: KeyState;
  createdAt: Date;
  activatesAt: Date;
  retiredAt?: Date;
  /** When the key leaves the JWKS (retired keys only). */
  removeAt?: Date;
}

/** Timing of the key lifecycle, in seconds. */
export interface KeyPolicy {
  algorithm: SigningAlgorithm;
  rotateEvery: number;
  prePublish: number;
  maxTtl: number;
  clockTolerance: number;
}

/** The signer for one token. */
export interface Signer {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

interface Classified {
  key: StoredKey;
  state: KeyState;
  retiredAt?: number;
  removeAt?: number;
}

/** Creates a key pair; the kid is its RFC 7638 thumbprint. */
export async function generateSigningKey(alg: SigningAlgorithm, activatesAt: number, now = Date.now()): Promise<StoredKey> {
  const pair = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(pair.privateKey);
  return { kid, alg, createdAt: now, activatesAt, publicJwk: { ...publicJwk, kid, alg, use: 'sig' }, privateJwk: { ...privateJwk, kid, alg } };
}

/**
 * Owns the signing-key lifecycle: a key is published at creation, signs from `activatesAt` (at least `prePublish`
 * later, except the very first key and `rotate({ now: true })`), is retired when a newer key activates, and stays
 * published until `retiredAt + maxTtl + clockTolerance`, after which it is deleted. State is derived from the
 * stored times, so every process sharing a store agrees on the signer.
 */
export class KeyManager {
  private keys: StoredKey[] = [];
  private readonly imported = new Map<string, Promise<CryptoKey>>();
  private lastSigner: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: IssuerStore,
    private readonly policy: KeyPolicy,
    private readonly emit: (event: Omit<IssuerEvent, 'time'>) => void = () => {},
    private readonly logger?: Logger,
  ) {}

  /** Loads the keys and makes sure one signs now (the first key signs at once). */
  async init(): Promise<void> {
    this.setKeys(await this.store.listKeys());
    await this.tick();
  }

  /** Starts the rotation timer (unref'd, so it never keeps the process alive). */
  start(): void {
    if (this.timer !== undefined) return;
    const every = Math.min(1000, Math.max(50, (Math.min(this.policy.prePublish || this.policy.rotateEvery, this.policy.rotateEvery) * 1000) / 4));
    // A failed step (store unreachable) is retried on the next tick; the current signer keeps signing.
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => this.logger?.error({ err: (err as Error)?.message }, 'tokenguard issuer: key lifecycle step failed')), every);
    this.timer.unref();
  }

  /** Stops the timer and waits for a running tick. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** Re-reads the keys from the store (another process rotated). */
  async reload(): Promise<void> {
    this.setKeys(await this.store.listKeys());
    this.noticeSigner(Date.now());
  }

  private setKeys(keys: StoredKey[]): void {
    this.keys = [...keys].sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
    for (const kid of this.imported.keys()) if (!this.keys.some((k) => k.kid === kid)) this.imported.delete(kid);
  }

  private classify(now: number, keys: StoredKey[] = this.keys): Classified[] {
    let active = -1;
    keys.forEach((k, i) => {
      if (k.activatesAt <= now) active = i;
    });
    const grace = (this.policy.maxTtl + this.policy.clockTolerance) * 1000;
    return keys.map((key, i) => {
      if (i > active) return { key, state: 'next' };
      if (i === active) return { key, state: 'active' };
      const retiredAt = key.retiredAt ?? keys[i + 1]!.activatesAt;
      return { key, state: 'retired', retiredAt, removeAt: key.removeAt ?? retiredAt + grace };
    });
  }

  /** The keys in the JWKS now: every key not yet past its removal time. */
  published(now = Date.now()): Classified[] {
    return this.classify(now).filter((c) => c.removeAt === undefined || c.removeAt > now);
  }

  /** The public JSON Web Key Set, newest key first. */
  jwks(now = Date.now()): { keys: JWK[] } {
    return { keys: this.published(now).reverse().map((c) => ({ ...c.key.publicJwk })) };
  }

  /** Safe descriptions of the published keys (no key material). */
  info(now = Date.now()): KeyInfo[] {
    return this.published(now).map(({ key, state, retiredAt, removeAt }) => ({
      kid: key.kid, alg: key.alg, state, createdAt: new Date(key.createdAt), activatesAt: new Date(key.activatesAt),
      ...(retiredAt !== undefined ? { retiredAt: new Date(retiredAt) } : {}),
      ...(removeAt !== undefined ? { removeAt: new Date(removeAt) } : {}),
    }));
  }

  /** Number of published keys per state. */
  states(now = Date.now()): Record<KeyState, number> {
    const counts: Record<KeyState, number> = { next: 0, active: 0, retired: 0 };
    for (const c of this.published(now)) counts[c.state]++;
    return counts;
  }

  /** Seconds until the next key becomes the signer (0 when overdue). */
  nextRotationSeconds(now = Date.now()): number {
    const classified = this.classify(now);
    const next = classified.find((c) => c.state === 'next');
    const active = classified.find((c) => c.state === 'active');
    const at = next?.key.activatesAt ?? (active ? active.key.activatesAt + this.policy.rotateEvery * 1000 : now);
    return Math.max(0, (at - now) / 1000);
  }

  /** The key that signs now, imported; undefined when there is none (the store lost its keys). */
  async signer(now = Date.now()): Promise<Signer | undefined> {
    const active = this.classify(now).find((c) => c.state === 'active');
    if (active === undefined) return undefined;
    return { kid: active.key.kid, alg: active.key.alg, key: await this.importKey(active.key) };
  }

  private importKey(key: StoredKey): Promise<CryptoKey> {
    let imported = this.imported.get(key.kid);
    if (imported === undefined) {
      imported = importJWK(key.privateJwk, key.alg) as Promise<CryptoKey>;
      this.imported.set(key.kid, imported);
    }
    return imported;
  }

  /**
   * Publishes a new key at once. It signs after `prePublish`, or at once with `{ now: true }` (a suspected
   * compromise). A key that was published but never signed is replaced.
   */
  async rotate(options: { now?: boolean } = {}): Promise<KeyInfo> {
    const now = Date.now();
    const fresh = await generateSigningKey(this.policy.algorithm, options.now ? now : now + this.policy.prePublish * 1000, now);
    const keys = await this.store.updateKeys((current) => {
      const kept = this.classify(now, this.sorted(current)).filter((c) => c.state !== 'next').map((c) => this.stamp(c));
      return [...kept, fresh];
    });
    this.setKeys(keys);
    this.emit({ type: 'key.added', kid: fresh.kid, alg: fresh.alg, activatesAt: new Date(fresh.activatesAt).toISOString(), reason: options.now ? 'rotate-now' : 'rotate' });
    this.noticeSigner(Date.now());
    return this.info().find((k) => k.kid === fresh.kid)!;
  }

  private sorted(keys: StoredKey[]): StoredKey[] {
    return [...keys].sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
  }

  // Persists the retirement times so every process (and `keys list`) agrees on them.
  private stamp(c: Classified): StoredKey {
    return c.state === 'retired' ? { ...c.key, retiredAt: c.retiredAt, removeAt: c.removeAt } : c.key;
  }

  /** One lifecycle step: creates the first key, pre-publishes the next one when due, removes expired keys. */
  tick(): Promise<void> {
    this.running ??= this.step().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async step(): Promise<void> {
    const now = Date.now();
    const classified = this.classify(now);
    const active = classified.find((c) => c.state === 'active');
    const hasNext = classified.some((c) => c.state === 'next');
    const due = active === undefined ? now : active.key.activatesAt + this.policy.rotateEvery * 1000;
    const needsKey = active === undefined || (!hasNext && now >= due - this.policy.prePublish * 1000);
    const needsWrite = needsKey || classified.some((c) => c.state === 'retired' && (c.key.removeAt === undefined || c.removeAt! <= now));
    if (!needsWrite) {
      this.noticeSigner(now);
      return;
    }
    // The first key (or a replacement for a lost one) signs at once; later keys are pre-published.
    const fresh = needsKey ? await generateSigningKey(this.policy.algorithm, active === undefined ? now : Math.max(due, now + this.policy.prePublish * 1000), now) : undefined;
    let added = false;
    const removed: string[] = [];
    const keys = await this.store.updateKeys((current) => {
      const again = this.classify(now, this.sorted(current));
      const kept = again.filter((c) => {
        const gone = c.state === 'retired' && c.removeAt! <= now;
        if (gone) removed.push(c.key.kid);
        return !gone;
      }).map((c) => this.stamp(c));
      const stillActive = again.find((c) => c.state === 'active');
      const stillNext = again.some((c) => c.state === 'next');
      if (fresh !== undefined && (stillActive === undefined || (!stillNext && now >= stillActive.key.activatesAt + this.policy.rotateEvery * 1000 - this.policy.prePublish * 1000))) {
        kept.push(fresh);
        added = true;
      }
      return kept;
    });
    this.setKeys(keys);
    if (fresh !== undefined && added) {
      void this.importKey(fresh).catch(() => {});
      this.emit({ type: 'key.added', kid: fresh.kid, alg: fresh.alg, activatesAt: new Date(fresh.activatesAt).toISOString(), reason: 'schedule' });
    }
    for (const kid of removed) this.emit({ type: 'key.removed', kid });
    this.noticeSigner(Date.now());
  }

  private noticeSigner(now: number): void {
    const active = this.classify(now).find((c) => c.state === 'active');
    if (active === undefined || active.key.kid === this.lastSigner) return;
    const previous = this.lastSigner;
    this.lastSigner = active.key.kid;
    if (previous !== undefined) this.emit({ type: 'key.activated', kid: active.key.kid, previousKid: previous });
  }
}
