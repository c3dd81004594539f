/**
 * Authorization-server metadata discovery: OpenID Connect Discovery 1.0 first, then RFC 8414. The metadata
 * `issuer` must equal the configured issuer byte for byte, and `jwks_uri` must be an http(s) URL.
 */
import { fetchJson, FetchError, parseHttpUrl, type FetchJsonOptions } from './bounded-fetch.js';

/** The metadata URLs tried for `issuer`, in order. */
export function discoveryUrls(issuer: string): URL[] {
  const base = new URL(issuer);
  const oidc = new URL(issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration');
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const path = base.pathname.replace(/\/+$/, '');
  const rfc8414 = new URL(`/.well-known/oauth-authorization-server${path}`, base.origin);
  return oidc.href === rfc8414.href ? [oidc] : [oidc, rfc8414];
}

/**
 * Fetches the issuer's metadata and returns its `jwks_uri`. Rejects with a {@link FetchError} naming what went
 * wrong (never a URL from the metadata). Both well-known locations share the one deadline.
 * @example const jwksUri = await discoverJwksUri('https://idp.example/', { deadline: Date.now() + 5000, maxBytes: 262144 })
 */
export async function discoverJwksUri(issuer: string, opts: FetchJsonOptions): Promise<URL> {
  const failures: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    try {
      return jwksUriOf(await fetchJson(url, opts), issuer);
    } catch (err) {
      failures.push(err instanceof Error ? err.message : 'failed');
      if (Date.now() >= opts.deadline || opts.signal?.aborted) break;
    }
  }
  throw new FetchError(`discovery failed: ${failures.join('; ')}`);
}

function jwksUriOf(doc: unknown, issuer: string): URL {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new FetchError('metadata is not a JSON object');
  const own = (name: string): unknown => (Object.prototype.hasOwnProperty.call(doc, name) ? (doc as Record<string, unknown>)[name] : undefined);
  if (own('issuer') !== issuer) throw new FetchError('metadata issuer does not match the configured issuer');
  const url = parseHttpUrl(own('jwks_uri'));
  if (!url) throw new FetchError('metadata jwks_uri is missing or not an http(s) URL');
  return url;
}
