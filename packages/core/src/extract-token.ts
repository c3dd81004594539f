import { TokenError, rejection } from './errors.js';
import type { RequestLike } from './types.js';

/** Options of {@link extractToken}. */
export interface ExtractOptions {
  /** Read `?access_token=` (RFC 6750 §2.3). Default false: a query token is a 400. */
  allowQueryToken?: boolean;
  /** Read `access_token` from an urlencoded body on non-GET requests (RFC 6750 §2.2). Default true. */
  allowBodyToken?: boolean;
  /** `realm` of the challenges. Default `'api'`. */
  realm?: string;
}

/** Fixed, safe descriptions for transport errors. */
export const TRANSPORT = {
  missing: 'No access token was sent',
  twoHeaders: 'More than one Authorization header was sent',
  malformedHeader: 'The Authorization header is malformed',
  twoPlaces: 'The access token was sent in more than one place',
  repeated: 'The access_token parameter was sent more than once',
  query: 'Access tokens in the query string are not accepted; use the Authorization header',
  parameter: 'The access_token parameter is malformed',
} as const;

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function badRequest(description: string, realm: string | undefined): TokenError {
  return rejection('invalid_request', description, realm === undefined ? {} : { realm });
}

function isAuthorizationName(name: unknown): boolean {
  if (typeof name !== 'string') return String(name).toLowerCase() === 'authorization';
  return name.length === 13 && (name === 'authorization' || name === 'Authorization' || name.toLowerCase() === 'authorization');
}

/**
 * The one Authorization header value of a request, or undefined when there is none; throws when there are
 * several, counting duplicates Node folds into one (`rawHeaders`, `headersDistinct`). The common case (one
 * header in `rawHeaders`) allocates nothing.
 */
function authorizationValue(req: RequestLike, realm: string | undefined): string | undefined {
  const raw = req.rawHeaders;
  if (Array.isArray(raw)) {
    const at = authorizationIndex(raw);
    if (at === SEVERAL) throw badRequest(TRANSPORT.twoHeaders, realm);
    if (at >= 0) return String(raw[at]);
  }
  const values = otherAuthorizationValues(req);
  if (values.length > 1) throw badRequest(TRANSPORT.twoHeaders, realm);
  return values[0];
}

const SEVERAL = -2;

/** Where the one Authorization value of node's `rawHeaders` is: its index, -1 when there is none, SEVERAL. */
function authorizationIndex(raw: readonly unknown[]): number {
  let found = -1;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (isAuthorizationName(raw[i])) {
      if (found >= 0) return SEVERAL;
      found = i + 1;
    }
  }
  return found;
}

/** The Authorization header values when `rawHeaders` has none: `headersDistinct`, then `headers`. */
function otherAuthorizationValues(req: RequestLike): string[] {
  const distinct = (req as { headersDistinct?: Record<string, string[] | undefined> }).headersDistinct?.authorization;
  if (Array.isArray(distinct) && distinct.length > 0) return distinct.map(String);
  const headers = req.headers ?? {};
  const fetchStyle = fetchHeaderValue(headers, 'authorization');
  if (fetchStyle !== undefined) return fetchStyle === null ? [] : [fetchStyle];
  let value: unknown = headers.authorization;
  if (value === undefined) {
    // Plain objects from tests or other frameworks may keep the original case.
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') value = headers[name];
  }
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

// "bearer", lower case, as char codes: the scheme is compared without allocating (ASCII case folding by `| 0x20`).
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72];

function startsWithBearer(v: string): boolean {
  if (v.length < 6) return false;
  for (let i = 0; i < 6; i++) if ((v.charCodeAt(i) | 0x20) !== BEARER[i]) return false;
  return true;
}

/**
 * Parses one Authorization header value. Returns the token for the Bearer scheme (case-insensitive, one
 * or more spaces before the token); undefined for another scheme (Basic, Token, DPoP...): that is "no
 * bearer token", answered with a bare challenge. Throws `invalid_request` for a malformed Bearer value:
 * a tab or colon after the scheme, quotes, a comma list, two tokens, an empty token.
 */
export function parseAuthorization(value: string, realm?: string): string | undefined {
  return bearerOf(value, realm, undefined);
}

/**
 * Whether a header token has RFC 6750's b64token syntax. Any token that passes `splitJws` (three segments of
 * strict base64url) has it, so the verifier runs this only on a token that failed verification
 * (see {@link extractWith}); the check costs ~0.4 µs on an RS256 token.
 */
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token);
}

/** The 400 of a malformed Authorization header. */
export function malformedHeader(realm: string | undefined): TokenError {
  return badRequest(TRANSPORT.malformedHeader, realm);
}

/**
 * The verifier's verified-token cache, as extraction asks it (see {@link extractWith}).
 */
export interface KnownTokens {
  /**
   * The token of a cached entry whose first request sent exactly this Authorization value, else undefined. The same
   * value always parses to the same token, so a hit skips the parse (no trim, no slice, no allocation) and compares
   * two flat strings instead of a sliced token.
   */
  fromHeader(value: string): string | undefined;
  /**
   * Told the header token parsed from `value`. `exact` is `value` itself when the token runs to its end (nothing
   * trimmed), so that the cache can keep it for {@link KnownTokens.fromHeader}; undefined otherwise.
   */
  token(token: string, exact: string | undefined): void;
}

/**
 * {@link parseAuthorization}; with `known` (the verifier's cache) the token's character check is left to the caller
 * (see {@link extractWith}), and a header value the cache already knows is answered with its token.
 */
function bearerOf(value: string, realm: string | undefined, known: KnownTokens | undefined): string | undefined {
  if (known !== undefined) {
    const cached = known.fromHeader(value);
    if (cached !== undefined) return cached;
  }
  const v = value.trim();
  if (!startsWithBearer(v)) {
    if (v === '') throw malformedHeader(realm);
    return undefined;
  }
  if (v.length === 6 || v.charCodeAt(6) !== 0x20) {
    // "Bearer", "Bearer\t...", "Bearer:..." are malformed; "Bearerish x" is just another scheme.
    const next = v.charAt(6);
    if (next === '' || !/[A-Za-z0-9]/.test(next)) throw malformedHeader(realm);
    return undefined;
  }
  let i = 6;
  while (v.charCodeAt(i) === 0x20) i++;
  const token = v.slice(i);
  // `v === value`: nothing was trimmed, so the token runs to the end of the header value.
  if (known !== undefined) known.token(token, v === value ? value : undefined);
  else if (!isB64Token(token)) throw malformedHeader(realm);
  return token;
}

function firstValue(values: unknown, realm: string | undefined): string | undefined {
  if (values === undefined) return undefined;
  if (typeof values === 'string') return values;
  if (Array.isArray(values)) {
    if (values.length === 0) return undefined;
    if (values.length > 1) throw badRequest(TRANSPORT.repeated, realm);
    return firstValue(values[0], realm);
  }
  // `access_token[x]=...` parsed by qs into an object, or anything else odd.
  throw badRequest(TRANSPORT.parameter, realm);
}

function isBracketed(name: string): boolean {
  return name.startsWith('access_token[') || name.startsWith('access_token%5B') || name.startsWith('access_token%5b');
}

function fromParams(params: URLSearchParams, realm: string | undefined): string | undefined {
  for (const name of params.keys()) if (isBracketed(name)) throw badRequest(TRANSPORT.parameter, realm);
  const all = params.getAll('access_token');
  return firstValue(all, realm);
}

function fromObject(obj: Record<string, unknown>, realm: string | undefined): string | undefined {
  for (const name of Object.keys(obj)) if (isBracketed(name)) throw badRequest(TRANSPORT.parameter, realm);
  return firstValue(Object.prototype.hasOwnProperty.call(obj, 'access_token') ? obj.access_token : undefined, realm);
}

function fromParameters(source: unknown, realm: string | undefined): string | undefined {
  if (source === undefined || source === null) return undefined;
  if (typeof source === 'string') return fromParams(new URLSearchParams(source.startsWith('?') ? source.slice(1) : source), realm);
  if (source instanceof URLSearchParams) return fromParams(source, realm);
  if (typeof source === 'object' && !Buffer.isBuffer(source)) return fromObject(source as Record<string, unknown>, realm);
  return undefined;
}

function queryToken(req: RequestLike, realm: string | undefined, queryFromUrl: boolean): string | undefined {
  const url = typeof req.url === 'string' ? req.url : undefined;
  const q = url?.indexOf('?') ?? -1;
  // The raw URL is the truth (a framework's parsed query may hide a repeated parameter).
  if (url !== undefined && q >= 0) {
    const hash = url.indexOf('#', q);
    return fromParameters(url.slice(q + 1, hash < 0 ? undefined : hash), realm);
  }
  // The caller knows `req.query` is parsed from `req.url`: without '?' it is empty, and is not read.
  if (queryFromUrl && url !== undefined) return undefined;
  return fromParameters(req.query, realm);
}

/**
 * A header of a Fetch-API `Headers` object (e.g. `request.headers` of a Fetch `Request`): its value, null when
 * absent, or undefined when `headers` is not such an object. `Headers#get` joins repeated headers with ", ",
 * so two Authorization headers arrive as one malformed value (a 400), never as a silently chosen one.
 */
function fetchHeaderValue(headers: unknown, name: string): string | null | undefined {
  const get = (headers as { get?: unknown }).get;
  if (typeof get !== 'function') return undefined;
  const v: unknown = get.call(headers, name);
  return typeof v === 'string' ? v : null;
}

function headerValue(req: RequestLike, name: string): string | undefined {
  const fetchStyle = fetchHeaderValue(req.headers ?? {}, name);
  if (fetchStyle !== undefined) return fetchStyle ?? undefined;
  const v = req.headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

function bodyToken(req: RequestLike, realm: string | undefined): string | undefined {
  const m = req.method;
  if (m === 'GET' || m === 'HEAD') return undefined;
  const method = (m ?? 'GET').toUpperCase();
  if (method === 'GET' || method === 'HEAD') return undefined;
  const type = headerValue(req, 'content-type');
  // RFC 6750 §2.2: only application/x-www-form-urlencoded bodies; JSON and multipart carry no token.
  if (type === undefined || type.split(';')[0]!.trim().toLowerCase() !== 'application/x-www-form-urlencoded') return undefined;
  return fromParameters(req.body, realm);
}

/**
 * The Authorization value of a request that can carry its token in that header only: node's `rawHeaders` with
 * exactly one Authorization header, a URL without '?' (and no `query` property beside it, unless `queryFromUrl` says
 * the query comes from that URL), and no body to read (GET or HEAD, or `allowBodyToken: false`). For such a request
 * {@link extractWith} returns the token of this value or throws on the value itself; the verifier answers a cached
 * value at once (see `verifyRequestNow`). Undefined for any other request, which is then extracted as usual.
 */
export function soleHeaderValue(req: RequestLike, options: ExtractOptions, queryFromUrl: boolean): string | undefined {
  const raw = req.rawHeaders;
  if (!Array.isArray(raw)) return undefined;
  const m = req.method;
  if (options.allowBodyToken !== false && m !== 'GET' && m !== 'HEAD') return undefined;
  const url = req.url;
  if (typeof url !== 'string' || url.indexOf('?') !== -1) return undefined;
  // Without the caller's word that the query comes from the URL, a request with a `query` at all (a framework's
  // parsed query, perhaps a getter that parses on every read) is left to the extraction, which reads it once.
  if (!queryFromUrl && 'query' in req) return undefined;
  const at = authorizationIndex(raw);
  const value: unknown = at < 0 ? undefined : raw[at];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Extracts the bearer token of a request per RFC 6750, framework-free. Looks at the Authorization header
 * (all copies: `rawHeaders`/`headersDistinct`), the query (only with `allowQueryToken`; otherwise a
 * query token is a 400 saying so) and an urlencoded non-GET body. Returns undefined when no token is
 * sent. Throws an
 * `invalid_request` (400): two Authorization headers, a malformed Bearer value, a token in more than one
 * place, a repeated or bracketed `access_token`, a query token when they are off. Another scheme (Basic,
 * Token, DPoP) is no bearer token: undefined, which the verifier answers with `token_missing` (401, bare
 * challenge) unless credentials are optional.
 *
 * @example const token = extractToken(req, { allowQueryToken: false })
 */
export function extractToken(req: RequestLike, options: ExtractOptions = {}): string | undefined {
  return extractWith(req, options, undefined);
}

/**
 * {@link extractToken} for the verifier: `known` (the verified-token cache) is asked about the Authorization value
 * and told the header token (see {@link KnownTokens}). A header token returned alone is then **not**
 * character-checked here: the caller must check it with {@link isB64Token} when it fails verification, and answer
 * {@link malformedHeader} instead. Every token that fails the check also fails `splitJws` (a character outside
 * strict base64url and '.'), before any key lookup, so the answers are the same; a valid token (nearly every one)
 * skips the ~0.4 µs check. With a query or body token beside it, or an error in reading those, the header token is
 * checked here first, as `extractToken` does.
 * `queryFromUrl`: the caller knows `req.query` is parsed from `req.url` (an Express 5 getter that costs ~1 µs),
 * so it is not read when the URL has no query string. Same results and errors as `extractToken`.
 */
export function extractWith(req: RequestLike, options: ExtractOptions, known: KnownTokens | undefined, queryFromUrl = false): string | undefined {
  const realm = options.realm;
  const value = authorizationValue(req, realm);
  // Another scheme (Basic, Token, DPoP when DPoP is off) carries no bearer token: treated as absent.
  const header = value === undefined ? undefined : bearerOf(value, realm, known);
  const unchecked = known !== undefined && header !== undefined;
  let query: string | undefined;
  let body: string | undefined;
  try {
    query = queryToken(req, realm, queryFromUrl);
    if (query !== undefined && !options.allowQueryToken) throw badRequest(TRANSPORT.query, realm);
    body = options.allowBodyToken === false ? undefined : bodyToken(req, realm);
  } catch (err) {
    if (unchecked && !isB64Token(header)) throw malformedHeader(realm);
    throw err;
  }
  if (unchecked && (query !== undefined || body !== undefined) && !isB64Token(header)) throw malformedHeader(realm);
  const count = (header === undefined ? 0 : 1) + (query === undefined ? 0 : 1) + (body === undefined ? 0 : 1);
  if (count > 1) throw badRequest(TRANSPORT.twoPlaces, realm);
  const token = header ?? query ?? body;
  if (token === '') throw badRequest(TRANSPORT.parameter, realm);
  return token;
}
