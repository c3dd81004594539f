import { TokenError } from '../errors.js';

/** A compact JWS split and decoded without any verification. */
export interface DecodedJws {
  /** The protected header, a plain JSON object. */
  readonly header: Record<string, unknown>;
  /** The payload, a plain JSON object. */
  readonly payload: Record<string, unknown>;
  /** `base64url(header) '.' base64url(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
  /** The decoded signature bytes. */
  readonly signature: Buffer;
}

// RFC 7515 §2: base64url without padding. Anything else (padding, '+', '/', '%', non-ASCII) is malformed.
const B64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Fixed, safe descriptions (never echo the token). */
export const MALFORMED = {
  notString: 'The access token is not a string',
  empty: 'The access token is empty',
  tooLong: 'The access token is too long',
  jwe: 'Encrypted (JWE) access tokens are not accepted',
  segments: 'The access token is not a compact JWS (three segments)',
  encoding: 'The access token is not base64url encoded',
  json: 'The access token header or payload is not a JSON object',
} as const;

function malformed(description: string, cause?: unknown): TokenError {
  return new TokenError('token_malformed', description, cause === undefined ? {} : { cause });
}

function decodeJsonObject(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch (err) {
    // Invalid UTF-8, invalid JSON, or a RangeError from absurd nesting: all the same to a client.
    throw malformed(MALFORMED.json, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(MALFORMED.json);
  return value as Record<string, unknown>;
}

/**
 * Splits a compact JWS and decodes its header and payload, without verifying anything. The length cap
 * is checked before any decoding; a 5-segment JWE is rejected before anything is decoded or decrypted.
 * Every failure is a `token_malformed` {@link TokenError}.
 */
export function decodeJws(token: unknown, maxLength: number): DecodedJws {
  if (typeof token !== 'string') throw malformed(MALFORMED.notString);
  if (token.length === 0) throw malformed(MALFORMED.empty);
  if (token.length > maxLength) throw malformed(MALFORMED.tooLong);
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) throw malformed(MALFORMED.segments);
  const third = token.indexOf('.', second + 1);
  if (third >= 0) {
    const fourth = token.indexOf('.', third + 1);
    const isJwe = fourth >= 0 && token.indexOf('.', fourth + 1) < 0;
    throw malformed(isJwe ? MALFORMED.jwe : MALFORMED.segments);
  }
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  // An empty signature is left to the alg check ('none' tokens have one) and then fails verification.
  if (h.length === 0 || p.length === 0) throw malformed(MALFORMED.segments);
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) throw malformed(MALFORMED.encoding);
  // A base64url string of length 4n+1 cannot come from any byte string.
  if (h.length % 4 === 1 || p.length % 4 === 1 || s.length % 4 === 1) throw malformed(MALFORMED.encoding);
  const header = decodeJsonObject(h);
  const payload = decodeJsonObject(p);
  return { header, payload, signingInput: token.slice(0, second), signature: Buffer.from(s, 'base64url') };
}

/** Own-property read: `__proto__`, `constructor` and friends never come from the prototype. */
export function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}
