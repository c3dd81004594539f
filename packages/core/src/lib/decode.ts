import { TokenError, rejection } from '../errors.js';
import { DESCRIPTIONS } from './map-error.js';

/** A compact JWS split and checked, its signature left encoded (decoded only when it is verified). */
export interface SplitJws {
  /** The protected header, a plain JSON object (frozen when it came from a {@link HeaderMemo}). */
  readonly header: Record<string, unknown>;
  /** The header segment, as sent. */
  readonly headerSegment: string;
  /** Whether the header came from the {@link HeaderMemo} (then it is already remembered and frozen). */
  readonly headerRemembered: boolean;
  /** The header parameters the core reads (see {@link HeaderFields}). */
  readonly fields: HeaderFields;
  /** The payload, a plain JSON object. */
  readonly payload: Record<string, unknown>;
  /** `base64url(header) '.' base64url(payload)`: the bytes the signature covers (ASCII). */
  readonly signingInput: string;
  /** The signature segment, checked to be base64url (decoded only when it is verified: `verifySegments`). */
  readonly signatureSegment: string;
}

/**
 * The header parameters the core reads, each the header's own property or undefined (`__proto__` and friends never
 * come from the prototype). Read once per header: a remembered header keeps its fields, so a token whose header
 * segment verified before reads none of them again.
 */
export interface HeaderFields {
  readonly alg: unknown;
  readonly kid: unknown;
  readonly typ: unknown;
}

function headerFields(header: Record<string, unknown>): HeaderFields {
  return { alg: own(header, 'alg'), kid: own(header, 'kid'), typ: own(header, 'typ') };
}

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
  return rejection('token_malformed', description, cause === undefined ? {} : { cause });
}

// One scratch buffer for base64url decoding: every use is synchronous (decode, then copy out or parse), so
// it is never shared between two calls in flight. Grows to the largest token length seen (bounded by the
// verifier's length cap).
let scratch = Buffer.allocUnsafeSlow(8192);

function scratchFor(chars: number): Buffer {
  if (scratch.length < chars) scratch = Buffer.allocUnsafeSlow(chars);
  return scratch;
}

/** Bytes a base64url string without padding of this length decodes to (length % 4 === 1 is refused before). */
function decodedLength(chars: number): number {
  return (chars * 3) >>> 2;
}

/**
 * Decodes a base64url segment into the scratch buffer and returns the byte count. Node's decoder skips
 * characters outside the alphabet and stops at '=', so any such character (padding, '%', spaces, non-ASCII)
 * yields fewer bytes than the length implies: that is how they are refused without a regular expression.
 * ('+' and '/', which Node also decodes, are refused by the caller for the whole token.)
 */
function decodeInto(segment: string): number {
  const buf = scratchFor(segment.length);
  const n = buf.write(segment, 0, 'base64url');
  if (n !== decodedLength(segment.length)) throw malformed(MALFORMED.encoding);
  return n;
}

function decodeJsonObject(segment: string): Record<string, unknown> {
  const n = decodeInto(segment);
  let value: unknown;
  try {
    let text = scratch.toString('utf8', 0, n);
    // Invalid UTF-8 comes out as U+FFFD: only then is the strict decoder needed to tell it from a real one.
    if (text.includes('\uFFFD')) text = utf8.decode(scratch.subarray(0, n));
    value = JSON.parse(text);
  } catch (err) {
    // Invalid UTF-8, invalid JSON, or a RangeError from absurd nesting: all the same to a client.
    throw malformed(MALFORMED.json, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(MALFORMED.json);
  return value as Record<string, unknown>;
}

/**
 * The protected headers of tokens that verified, by header segment (an issuer signs every token with one of a
 * few headers, so decoding and freezing one per token is wasted work). Bounded: when full it is emptied.
 * Only a verified token's header is remembered, so a flood of forged headers cannot push the real ones out.
 */
export class HeaderMemo {
  private readonly map = new Map<string, RememberedHeader>();
  // The last hit, compared before the map: consecutive tokens usually share their header.
  private lastSegment = '';
  private last: RememberedHeader | undefined;
  constructor(private readonly max = 32) {}
  /** The remembered (frozen) header of this segment and its fields, if any. */
  get(segment: string): RememberedHeader | undefined {
    if (segment === this.lastSegment) return this.last;
    const remembered = this.map.get(segment);
    if (remembered !== undefined) {
      this.lastSegment = segment;
      this.last = remembered;
    }
    return remembered;
  }
  /** Remembers a frozen header of a token that verified, with its fields. */
  remember(segment: string, header: Record<string, unknown>, fields: HeaderFields): void {
    if (!Object.isFrozen(header) || this.map.has(segment)) return;
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(segment, { header, fields });
  }
}

interface RememberedHeader {
  readonly header: Record<string, unknown>;
  readonly fields: HeaderFields;
}

function checkHeaderOfTwoSegments(token: string, first: number): void {
  // `header.payload` without the final dot: an unsecured JWT written loosely. When its header says `none` (any
  // spelling), `alg_not_allowed` tells the caller more than "malformed".
  let header: Record<string, unknown>;
  try {
    header = decodeJsonObject(token.slice(0, first));
  } catch {
    return;
  }
  const alg = own(header, 'alg');
  if (typeof alg === 'string' && alg.toLowerCase() === 'none') throw rejection('alg_not_allowed', DESCRIPTIONS.alg);
}

/**
 * Splits a compact JWS and decodes its header and payload, without verifying anything; the signature segment
 * is checked to be base64url but left encoded. The length cap is checked before any decoding; a 5-segment JWE
 * is rejected before anything is decoded or decrypted. Every failure is a `token_malformed`
 * {@link TokenError} (or `alg_not_allowed` for a two-segment token whose header says `none`).
 */
export function splitJws(token: unknown, maxLength: number, memo?: HeaderMemo): SplitJws {
  if (typeof token !== 'string') throw malformed(MALFORMED.notString);
  if (token.length === 0) throw malformed(MALFORMED.empty);
  if (token.length > maxLength) throw malformed(MALFORMED.tooLong);
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) {
    if (first > 0) checkHeaderOfTwoSegments(token, first);
    throw malformed(MALFORMED.segments);
  }
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
  // RFC 7515 §2: base64url without padding. '+' and '/' (plain base64) are refused here; every other
  // character outside the alphabet makes a segment decode short (see decodeInto).
  if (token.includes('+') || token.includes('/')) throw malformed(MALFORMED.encoding);
  // A base64url string of length 4n+1 cannot come from any byte string.
  if (h.length % 4 === 1 || p.length % 4 === 1 || s.length % 4 === 1) throw malformed(MALFORMED.encoding);
  const remembered = memo?.get(h);
  // The header's errors come before the payload's.
  const header = remembered?.header ?? decodeJsonObject(h);
  const fields = remembered?.fields ?? headerFields(header);
  const payload = decodeJsonObject(p);
  if (s.length > 0) decodeInto(s);
  return { header, headerSegment: h, headerRemembered: remembered !== undefined, fields, payload, signingInput: token.slice(0, second), signatureSegment: s };
}

/** Own-property read: `__proto__`, `constructor` and friends never come from the prototype. */
export function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}
