/**
 * oidc-provider (panva, OpenID certified) as an independent client-credentials token service on 127.0.0.1:0:
 * one resource server (RFC 8707 resource indicator) whose access tokens are JWTs for one audience.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { wrap, type TestServer } from './http';

export interface OidcPeerOptions {
  /** Client metadata (client_id, client_secret, token_endpoint_auth_method, ...); grant and scope are filled in. */
  clients: Record<string, unknown>[];
  /** Scopes the provider knows and every client may request. */
  scopes: string[];
  /** The one resource indicator (absolute URI) and the `aud` its tokens carry. */
  resource: string;
  audience: string;
  /** Signing algorithm. Default `'RS256'`. */
  alg?: 'RS256' | 'ES256';
  /** Access-token lifetime in seconds. Default 300. */
  ttl?: number;
}

/** Starts the peer; its URL is the issuer. Unknown resources get `invalid_target`. */
export async function startOidcPeer(o: OidcPeerOptions): Promise<TestServer> {
  const alg = o.alg ?? 'RS256';
  const ttl = o.ttl ?? 300;
  // oidc-provider warns at import (Node 20) and about its in-memory adapter; both are expected in tests.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  const peer = await import('oidc-provider');
  // `errors` is not in the shared ambient typing of oidc-provider
  const { InvalidTarget } = (peer as unknown as { errors: { InvalidTarget: new () => Error } }).errors;
  let handler = (_req: IncomingMessage, res: ServerResponse): void => void res.writeHead(503).end();
  const server = await wrap(createServer((req, res) => handler(req, res)));
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const scope = o.scopes.join(' ');
  const oidc = new peer.default(server.url, {
    clients: o.clients.map((c) => ({ id_token_signed_response_alg: alg, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope, ...c })),
    scopes: o.scopes,
    ttl: { ClientCredentials: ttl },
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: `peer-${alg.toLowerCase()}`, alg, use: 'sig' }] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => o.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== o.resource) throw new InvalidTarget();
          return { scope, audience: o.audience, accessTokenFormat: 'jwt', accessTokenTTL: ttl, jwt: { sign: { alg } } };
        },
      },
    },
  });
  warn.mockRestore();
  handler = oidc.callback();
  return server;
}
