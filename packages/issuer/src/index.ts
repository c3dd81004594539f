/**
 * @tokenguard/issuer: an OAuth 2.0 client-credentials token service with automatic signing-key rotation,
 * JWKS, RFC 8414 metadata, RFC 7009 revocation, RFC 7662 introspection, metrics and a CLI.
 */
export { createIssuerServer } from './server.js';
export type { IssuerServer } from './server.js';
export { createIssuer } from './issuer.js';
export type { Issuer, IssueOptions, TokenResponse } from './issuer.js';
export { resolveConfig, loadConfigFile, validateClient, SIGNING_ALGORITHMS } from './config.js';
export type { IssuerConfig, ClientConfig, ResolvedConfig, SigningAlgorithm } from './config.js';
export { createFileStore } from './file-store.js';
export type { FileStoreOptions } from './file-store.js';
export { createMemoryStore } from './memory-store.js';
export type { IssuerStore, StoredClient, StoredKey, StoreSection } from './store.js';
export { KeyManager, generateSigningKey } from './key-manager.js';
export type { KeyInfo, KeyState, KeyPolicy, Signer } from './key-manager.js';
export { hashClientSecret, verifyClientSecret, generateClientSecret, isSecretHash } from './lib/secret-hash.js';
export type { IssuerEvent, IssuerEventType } from './events.js';
