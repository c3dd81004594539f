import type { JWK } from 'jose';
import type { ClientConfig, SigningAlgorithm } from './config.js';

/** A client as the store keeps it: the config shape plus its creation time. */
export interface StoredClient extends ClientConfig {
  /** ISO time the client was added. */
  createdAt?: string;
}

/**
 * One signing key and its schedule. Times are epoch milliseconds.
 * State: `next` before `activatesAt`; `active` while it is the newest activated key; `retired` after a newer key
 * activated; removed from the JWKS at `removeAt`.
 */
export interface StoredKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  /** When the key starts to sign (published from `createdAt`). */
  activatesAt: number;
  /** When a newer key took over (set by the key manager once it happened). */
  retiredAt?: number;
  /** When the key leaves the JWKS: `retiredAt` + the longest token lifetime + clock tolerance. */
  removeAt?: number;
  publicJwk: JWK;
  /** The private JWK. Stores encrypt it at rest when they can (the file store with `TOKENGUARD_MASTER_KEY`). */
  privateJwk: JWK;
}

/** Which part of the state changed. */
export type StoreSection = 'clients' | 'keys' | 'revocations';

/**
 * The issuer's state: clients (with hashed secrets), signing keys, revoked token ids. The embedded file store
 * and the in-memory store implement it; `@tokenguard/redis` implements it for fleets. Every method may reject
 * when the backend fails; the issuer then answers 503, never 500.
 */
export interface IssuerStore {
  /** Loads the state (called once before use). */
  open(): Promise<void>;
  getClient(clientId: string): Promise<StoredClient | undefined>;
  listClients(): Promise<StoredClient[]>;
  /** Adds a client; rejects when the id exists. */
  addClient(client: StoredClient): Promise<void>;
  /** Removes a client; resolves false when there was none. */
  removeClient(clientId: string): Promise<boolean>;
  listKeys(): Promise<StoredKey[]>;
  /**
   * Atomic read-modify-write of the key list (under a lock across processes): `update` gets the current keys
   * and returns the new list, or `undefined` to leave them unchanged.
   */
  updateKeys(update: (keys: StoredKey[]) => StoredKey[] | undefined): Promise<StoredKey[]>;
  /** Revokes `jti` until `expiresAt` (epoch seconds); the store may forget it afterwards. */
  revoke(jti: string, expiresAt: number): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
  /** Calls `listener` when another process changed the state. Returns an unsubscribe function. */
  watch?(listener: (section: StoreSection) => void): () => void;
  close(): Promise<void>;
}
