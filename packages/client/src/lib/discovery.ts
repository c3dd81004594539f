import { TokenUnavailableError } from '../errors.js';
import { exchange, jsonObject, type HttpLimits } from './http.js';

/** The metadata URLs tried for an issuer: OpenID Connect discovery (appended), then RFC 8414 (inserted). */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

const sameIssuer = (a: string, b: string): boolean => a.replace(/\/$/, '') === b.replace(/\/$/, '');

/**
 * Finds the issuer's `token_endpoint` through its metadata. The metadata's `issuer` must be the configured
 * one (RFC 8414 §3.3, a trailing slash aside); `token_endpoint` must be an http(s) URL without userinfo.
 * Throws a `discovery_failed` {@link TokenUnavailableError} (retryable when the issuer was unreachable).
 */
export async function discoverTokenEndpoint(issuer: string, limits: HttpLimits): Promise<string> {
  let last: TokenUnavailableError | undefined;
  for (const url of metadataUrls(issuer)) {
    let answer;
    try {
      answer = await exchange(url, { method: 'GET', headers: { accept: 'application/json' } }, limits, 'issuer metadata');
    } catch (err) {
      if (err instanceof TokenUnavailableError && err.code === 'closed') throw err;
      const reason = err instanceof Error ? err.message : 'unknown error';
      throw new TokenUnavailableError('discovery_failed', `discovery of ${issuer} failed: ${reason}`, { cause: err, retryable: true });
    }
    const meta = answer.status === 200 ? jsonObject(answer.text) : undefined;
    if (!meta) {
      last = new TokenUnavailableError('discovery_failed', `discovery of ${issuer} failed: ${url} answered ${answer.status} without a JSON object`, {
        status: answer.status, retryable: answer.status >= 500 || answer.status === 429,
      });
      continue;
    }
    if (typeof meta.issuer !== 'string' || !sameIssuer(meta.issuer, issuer)) {
      throw new TokenUnavailableError('discovery_failed', `discovery of ${issuer} failed: the metadata names another issuer`, { retryable: false });
    }
    const endpoint = meta.token_endpoint;
    const parsed = typeof endpoint === 'string' && URL.canParse(endpoint) ? new URL(endpoint) : undefined;
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password) {
      throw new TokenUnavailableError('discovery_failed', `discovery of ${issuer} failed: no http(s) token_endpoint (without credentials) in the metadata`, { retryable: false });
    }
    return parsed.href;
  }
  throw last ?? new TokenUnavailableError('discovery_failed', `discovery of ${issuer} failed`);
}
