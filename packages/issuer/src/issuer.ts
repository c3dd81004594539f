import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { Registry } from 'prom-client';
import { fingerprint, toSeconds, type RevocationStore } from '@tokenguard/core';
import { resolveConfig, type ClientConfig, type IssuerConfig, type ResolvedConfig } from './config.js';
import { createEmitter, type IssuerEvent } from './events.js';
import { createFileStore } from './file-store.js';
import { KeyManager, type KeyInfo } from './key-manager.js';
import { createMemoryStore } from './memory-store.js';
import { createIssuerMetrics, type IssuerMetrics } from './metrics.js';
import { assertNoDuplicates, OAuthError, readParams, sendError, sendJson, single } from './lib/http.js';
import { createClientAuthenticator } from './client-auth.js';
import { parseAudiences, parseScope } from './grant.js';
import type { IssuerStore, StoredClient } from './store.js';

/** What the token endpoint answers (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope?: string;
}

/** Request options of {@link Issuer.issueToken}: the same rules as the token endpoint. */
export interface IssueOptions {
  /** Requested scopes; default: every scope the client may have. */
  scopes?: string[];
  /** Requested audiences; default: the client's only audience. */
  audiences?: string[];
}

/** An issuer that does not listen: its request handler, keys, revocations and metrics. */
export interface Issuer {
  /** The `iss` of every token and the metadata `issuer`, byte for byte. */
  readonly issuer: string;
  /** The node:http request handler of every endpoint. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** The revocation list as a core `RevocationStore`, to wire a verifier in the same process to it. */
  readonly revocations: RevocationStore;
  /** The issuer's own prom-client registry (never the global one). */
  readonly registry: Registry;
  /** The store holding clients, keys and revocations. */
  readonly store: IssuerStore;
  /** Mints a token for a registered client without authenticating it (the CLI's dev tokens, tests). */
  issueToken(clientId: string, options?: IssueOptions): Promise<TokenResponse>;
  /** Publishes a new key; it signs after `signing.prePublish`, or at once with `{ now: true }`. */
  rotateKeys(options?: { now?: boolean }): Promise<KeyInfo>;
  /** The published keys and their states (no key material). */
  keys(): KeyInfo[];
  /** The public JWKS as served. */
  jwks(): { keys: JWK[] };
  /** The RFC 8414 metadata as served. */
  metadata(): Record<string, unknown>;
  /** Stops the rotation timer and closes the store it opened. */
  close(): Promise<void>;
}

const MAX_TOKEN_LENGTH = 8192;
const PATHS = {
  token: '/oauth/token', revoke: '/oauth/revoke', introspect: '/oauth/introspect',
  jwks: '/.well-known/jwks.json', metadata: '/.well-known/oauth-authorization-server', metrics: '/metrics', health: '/healthz',
} as const;

/**
 * Builds an issuer without listening (embed `handle` in your own server, or use {@link createIssuerServer}).
 * `issuer` is required here, since there is no server URL to default to.
 * @example
 * const issuer = await createIssuer({ issuer: 'https://auth.internal', dataDir: '/var/lib/tokenguard' });
 * http.createServer(issuer.handle).listen(4000);
 */
export async function createIssuer(config: IssuerConfig): Promise<Issuer> {
  const cfg = resolveConfig(config);
  if (cfg.issuer === undefined) throw new TypeError('"issuer" is required by createIssuer (createIssuerServer defaults it to its URL)');
  return buildIssuer(cfg, cfg.issuer);
}

/** @internal Builds the issuer from a resolved configuration and the final issuer string. */
export async function buildIssuer(cfg: ResolvedConfig, iss: string): Promise<Issuer> {
  const emit = createEmitter(cfg.onEvent, cfg.logger);
  const ownStore = cfg.store === undefined;
  const store = cfg.store ?? (cfg.dataDir !== undefined ? createFileStore({ dataDir: cfg.dataDir }) : createMemoryStore());
  await store.open();
  const keys = new KeyManager(store, cfg, emit, cfg.logger);
  try {
    await keys.init();
  } catch (err) {
    if (ownStore) await store.close();
    throw err;
  }
  keys.start();
  const unwatch = store.watch?.((section) => {
    if (section === 'keys') void keys.reload().catch(() => {});
  });
  const metrics: IssuerMetrics = createIssuerMetrics(() => keys.states(), () => keys.nextRotationSeconds());
  const configClients = new Map(cfg.clients.map((c) => [c.clientId, c]));
  const base = iss.replace(/\/+$/, '');
  const jwksMaxAge = Math.max(0, Math.min(300, Math.floor(cfg.prePublish / 2)));
  const algorithms = ['ES256', 'RS256', 'PS256', 'EdDSA'];

  async function findClient(clientId: string): Promise<StoredClient | undefined> {
    return configClients.get(clientId) ?? (await guardStore(() => store.getClient(clientId)));
  }

  async function guardStore<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      cfg.logger?.error({ err: (err as Error).message }, 'tokenguard issuer: store unavailable');
      throw new OAuthError(503, 'temporarily_unavailable', 'the issuer store is unavailable; retry later', { 'retry-after': '5' });
    }
  }

  const metadata = (): Record<string, unknown> => ({
    issuer: iss,
    token_endpoint: `${base}${PATHS.token}`,
    jwks_uri: `${base}${PATHS.jwks}`,
    revocation_endpoint: `${base}${PATHS.revoke}`,
    introspection_endpoint: `${base}${PATHS.introspect}`,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // From the published keys: after a change of `signing.algorithm` the old key signs until the next rotation.
    access_token_signing_alg_values_supported: [...new Set([cfg.algorithm, ...keys.info().map((k) => k.alg)])],
  });

  const authenticate = createClientAuthenticator({ findClient, metrics, emit, rateLimit: cfg.rateLimit });

  async function mint(client: ClientConfig, scopes: string[], aud: string[]): Promise<TokenResponse> {
    const signer = await keys.signer();
    if (signer === undefined) throw new OAuthError(503, 'temporarily_unavailable', 'no signing key is available; retry later', { 'retry-after': '1' });
    const ttl = Math.floor(Math.min(client.tokenTtl !== undefined ? toSeconds(client.tokenTtl, 'tokenTtl') : cfg.defaultTtl, cfg.maxTtl));
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const payload: JWTPayload = { client_id: client.clientId, jti, ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}) };
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
      .setIssuer(iss)
      .setSubject(client.clientId)
      .setAudience(aud.length === 1 ? aud[0]! : aud)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(signer.key);
    metrics.tokens.inc({ client_id: client.clientId, outcome: 'issued' });
    emit({ type: 'token.issued', clientId: client.clientId, jti, kid: signer.kid, fingerprint: fingerprint(token), scopes, audiences: aud, expiresIn: ttl });
    return { access_token: token, token_type: 'Bearer', expires_in: ttl, ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}) };
  }

  // ---- verifying our own tokens (revocation, introspection) ----
  let localSet: { signature: string; get: ReturnType<typeof createLocalJWKSet> } | undefined;
  async function verifyOwn(token: string): Promise<JWTPayload | undefined> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const set = keys.jwks();
    const signature = set.keys.map((k) => k.kid).join(',');
    if (localSet?.signature !== signature) localSet = { signature, get: createLocalJWKSet(set) };
    try {
      const { payload } = await jwtVerify(token, localSet.get, { issuer: iss, typ: 'at+jwt', algorithms, requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'sub'] });
      return typeof payload.jti === 'string' && typeof payload.client_id === 'string' ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  function requirePost(req: IncomingMessage): void {
    if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'this endpoint accepts POST only', { allow: 'POST' });
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    let clientId = '-';
    try {
      requirePost(req);
      const params = await readParams(req);
      assertNoDuplicates(params);
      const grant = single(params, 'grant_type');
      if (grant === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
      if (grant !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 'only the client_credentials grant is supported');
      const { client } = await authenticate(req, params, ip);
      clientId = client.clientId;
      const scopes = parseScope(single(params, 'scope'), client);
      const aud = parseAudiences(params.get('resource') ?? [], params.get('audience') ?? [], client);
      sendJson(res, 200, await mint(client, scopes, aud));
    } catch (err) {
      if (err instanceof OAuthError) {
        metrics.tokens.inc({ client_id: clientId, outcome: err.error });
        emit({ type: 'token.refused', error: err.error, ip, ...(clientId !== '-' ? { clientId } : {}) });
      }
      throw err;
    }
  }

  // Revocation and introspection read the same request: an authenticated caller and one `token`.
  async function tokenRequest(req: IncomingMessage, ip: string): Promise<{ client: ClientConfig; token: string; payload: JWTPayload | undefined }> {
    requirePost(req);
    const params = await readParams(req);
    assertNoDuplicates(params);
    const { client } = await authenticate(req, params, ip);
    const token = single(params, 'token');
    if (token === undefined) throw new OAuthError(400, 'invalid_request', 'token is required');
    return { client, token, payload: await verifyOwn(token) };
  }

  async function revokeEndpoint(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    const { client, token, payload } = await tokenRequest(req, ip);
    // RFC 7009 §2.2: an invalid, expired or unknown token is answered 200 as well.
    if (payload === undefined) {
      metrics.revocations.inc({ outcome: 'ignored' });
      res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '0' }).end();
      return;
    }
    if (payload.client_id !== client.clientId) throw new OAuthError(400, 'unauthorized_client', 'the token was issued to another client');
    await guardStore(() => store.revoke(payload.jti!, payload.exp!));
    metrics.revocations.inc({ outcome: 'revoked' });
    emit({ type: 'token.revoked', clientId: client.clientId, jti: payload.jti, fingerprint: fingerprint(token) });
    res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '0' }).end();
  }

  async function introspectEndpoint(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    const { client, token, payload } = await tokenRequest(req, ip);
    const active = payload !== undefined && !(await guardStore(() => Promise.resolve(store.isRevoked(payload.jti!))));
    emit({ type: 'token.introspected', clientId: client.clientId, fingerprint: fingerprint(token), active });
    if (!active) return sendJson(res, 200, { active: false });
    const { iss: i, sub, aud, client_id, scope, exp, iat, jti } = payload;
    sendJson(res, 200, { active: true, token_type: 'Bearer', iss: i, sub, aud, client_id, scope, exp, iat, jti });
  }

  function getOnly(req: IncomingMessage): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new OAuthError(405, 'invalid_request', 'this endpoint accepts GET only', { allow: 'GET, HEAD' });
  }

  function sendPublic(res: ServerResponse, body: unknown, maxAge: number, head: boolean): void {
    const payload = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': `public, max-age=${maxAge}`, 'content-length': String(Buffer.byteLength(payload)) });
    res.end(head ? undefined : payload);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = req.socket.remoteAddress ?? 'unknown';
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://issuer.invalid').pathname;
    } catch {
      throw new OAuthError(400, 'invalid_request', 'malformed request target');
    }
    const head = req.method === 'HEAD';
    switch (path) {
      case PATHS.token: return tokenEndpoint(req, res, ip);
      case PATHS.revoke: return revokeEndpoint(req, res, ip);
      case PATHS.introspect: return introspectEndpoint(req, res, ip);
      case PATHS.jwks: getOnly(req); return sendPublic(res, keys.jwks(), jwksMaxAge, head);
      case PATHS.metadata: getOnly(req); return sendPublic(res, metadata(), 300, head);
      case PATHS.metrics: {
        getOnly(req);
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(head ? undefined : text);
        return;
      }
      case PATHS.health: {
        getOnly(req);
        const signer = await keys.signer().catch(() => undefined);
        const states = keys.states();
        return sendJson(res, signer ? 200 : 503, { status: signer ? 'ok' : 'unavailable', keys: states, nextRotationSeconds: Math.round(keys.nextRotationSeconds()) });
      }
      default:
        throw new OAuthError(404, 'invalid_request', 'unknown endpoint');
    }
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof OAuthError) {
        sendError(res, err);
        // An oversized body: stop reading it; the connection closes after the answer.
        if (err.status === 413 && !req.complete) res.on('finish', () => req.destroy());
        return;
      }
      cfg.logger?.error({ err: (err as Error)?.message }, 'tokenguard issuer: unexpected error');
      sendError(res, new OAuthError(500, 'server_error', 'unexpected error'));
    });
  };

  const revocations: RevocationStore = {
    failMode: 'closed',
    revoke: (jti, expiresAt) => store.revoke(jti, typeof expiresAt === 'number' ? expiresAt : Math.ceil(expiresAt.getTime() / 1000)),
    isRevoked: (jti) => store.isRevoked(jti),
  };

  return {
    issuer: iss,
    handle,
    revocations,
    registry: metrics.registry,
    store,
    async issueToken(clientId, options = {}) {
      const client = await findClient(clientId);
      if (client === undefined) throw new Error(`unknown client "${clientId}"`);
      const scopes = parseScope(options.scopes?.join(' '), client);
      return mint(client, scopes, parseAudiences([], options.audiences ?? [], client));
    },
    rotateKeys: (options) => keys.rotate(options),
    keys: () => keys.info(),
    jwks: () => keys.jwks(),
    metadata,
    async close() {
      unwatch?.();
      await keys.stop();
      if (ownStore) await store.close();
    },
  };
}

export type { IssuerEvent };
