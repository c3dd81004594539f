import type { ClientConfig } from './config.js';
import { OAuthError } from './lib/http.js';

/** One RFC 6749 §3.3 scope-token: printable ASCII without space, `"` and `\\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** The granted scopes: the requested ones if all are allowed (else `invalid_scope`), or every allowed one when none is requested. */
export function parseScope(value: string | undefined, client: ClientConfig): string[] {
  const allowed = client.scopes ?? [];
  if (value === undefined) return allowed;
  const requested = value.split(' ');
  if (value.length > 4096 || requested.some((s) => !SCOPE_TOKEN.test(s))) throw new OAuthError(400, 'invalid_scope', 'malformed scope: space-separated scope tokens expected');
  if (requested.some((s) => !allowed.includes(s))) throw new OAuthError(400, 'invalid_scope', "the requested scope exceeds the client's allowed scopes");
  return [...new Set(requested)];
}

/**
 * The token audiences: requested `resource` (RFC 8707, absolute URIs) and `audience` values, all allowed for the
 * client (else `invalid_target`); with none requested, the client's only audience.
 */
export function parseAudiences(resources: string[], audiences: string[], client: ClientConfig): string[] {
  const allowed = client.audiences ?? [];
  for (const r of resources) {
    if (!URL.canParse(r) || r.includes('#') || r.length > 2048) throw new OAuthError(400, 'invalid_target', 'resource must be an absolute URI without a fragment (RFC 8707)');
  }
  for (const a of audiences) if (a.length === 0 || a.length > 2048) throw new OAuthError(400, 'invalid_target', 'audience must be a non-empty string');
  const requested = [...new Set([...resources, ...audiences])];
  if (requested.length === 0) {
    if (allowed.length === 1) return [allowed[0]!];
    throw new OAuthError(400, 'invalid_target', allowed.length === 0 ? 'the client has no allowed audience' : 'the client has several audiences: send resource or audience');
  }
  if (requested.some((a) => !allowed.includes(a))) throw new OAuthError(400, 'invalid_target', 'the requested resource or audience is not allowed for this client');
  return requested;
}
