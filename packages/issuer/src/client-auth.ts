import type { IncomingMessage } from 'node:http';
import type { ClientConfig } from './config.js';
import type { IssuerEvent } from './events.js';
import type { IssuerMetrics } from './metrics.js';
import { OAuthError, single, type Params } from './lib/http.js';
import { FailureLimiter } from './lib/rate-limit.js';
import { verifyClientSecret } from './lib/secret-hash.js';

/** The `realm` of the `WWW-Authenticate: Basic` challenge. */
export const REALM = 'tokenguard-issuer';

/** An authenticated caller of the token, revocation or introspection endpoint. */
export interface Caller {
  client: ClientConfig;
  /** Whether HTTP Basic was used (then failures carry a `WWW-Authenticate` challenge). */
  basic: boolean;
}

/** What the authenticator needs from the issuer. */
export interface ClientAuthDeps {
  findClient(clientId: string): Promise<ClientConfig | undefined>;
  metrics: IssuerMetrics;
  emit(event: Omit<IssuerEvent, 'time'>): void;
  /** Failed-authentication limits: window in seconds, failures per client and per address. */
  rateLimit: { window: number; perClient: number; perAddress: number };
}

/**
 * Client authentication (RFC 6749 §2.3.1): `client_secret_basic` or `client_secret_post`, never both; secrets
 * compared against scrypt hashes in constant time (an unknown client costs the same scrypt). Failures are
 * counted per address and per known client; past the limit the caller gets 429 `invalid_client` with
 * `Retry-After` until the window ends, even with the right secret.
 */
export function createClientAuthenticator(deps: ClientAuthDeps): (req: IncomingMessage, params: Params, ip: string) => Promise<Caller> {
  const { findClient, metrics, emit } = deps;
  const perClient = new FailureLimiter(deps.rateLimit.window * 1000, deps.rateLimit.perClient);
  const perAddress = new FailureLimiter(deps.rateLimit.window * 1000, deps.rateLimit.perAddress);
  return async function authenticate(req: IncomingMessage, params: Params, ip: string): Promise<Caller> {
    const header = req.headers.authorization;
    // Node keeps only the first of repeated Authorization headers: look at the raw ones.
    if (req.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'authorization').length > 1) {
      throw new OAuthError(400, 'invalid_request', 'more than one Authorization header');
    }
    const challenge = { 'www-authenticate': `Basic realm="${REALM}", charset="UTF-8"` };
    let id: string | undefined;
    let secret: string | undefined;
    let basic = false;
    const bodyId = single(params, 'client_id');
    const bodySecret = single(params, 'client_secret');
    const refuse = (reason: string, description: string, withChallenge: boolean): never => {
      metrics.authFailures.inc({ reason });
      emit({ type: 'client.auth_failed', reason, ip });
      throw new OAuthError(401, 'invalid_client', description, withChallenge ? challenge : {});
    };
    if (header !== undefined) {
      basic = true;
      const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
      const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (!match || colon < 0) return refuse('malformed', 'malformed or unsupported Authorization header: use HTTP Basic', true);
      try {
        id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      } catch {
        return refuse('malformed', 'malformed client credentials in the Authorization header', true);
      }
      if (bodySecret !== undefined) throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not HTTP Basic and client_secret together');
      if (bodyId !== undefined && bodyId !== id) throw new OAuthError(400, 'invalid_request', 'client_id in the body differs from the Authorization header');
    } else if (bodyId !== undefined || bodySecret !== undefined) {
      id = bodyId;
      secret = bodySecret;
      if (id === undefined || secret === undefined) return refuse('malformed', 'client authentication needs client_id and client_secret', false);
    } else {
      return refuse('malformed', 'client authentication required (HTTP Basic or client_secret_post)', true);
    }
    const retry = Math.max(perAddress.blockedFor(ip), perClient.blockedFor(id!));
    if (retry > 0) {
      metrics.authFailures.inc({ reason: 'rate_limited' });
      emit({ type: 'client.auth_failed', reason: 'rate_limited', ip });
      throw new OAuthError(429, 'invalid_client', `too many failed client authentications; retry in ${retry} s`, { 'retry-after': String(retry) });
    }
    const client = await findClient(id!);
    const ok = await verifyClientSecret(secret!, client?.clientSecretHash);
    if (!ok || client === undefined) {
      perAddress.fail(ip);
      if (client !== undefined) perClient.fail(client.clientId);
      metrics.authFailures.inc({ reason: client === undefined ? 'unknown_client' : 'wrong_secret' });
      emit({ type: 'client.auth_failed', reason: client === undefined ? 'unknown_client' : 'wrong_secret', ip, ...(client ? { clientId: client.clientId } : {}) });
      throw new OAuthError(401, 'invalid_client', 'client authentication failed', basic ? challenge : {});
    }
    return { client, basic };
  };
}
