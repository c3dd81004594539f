/** Property tests of the client's small parsers and encoders (fast-check, bounded runs). */
import fc from 'fast-check';
import { basicAuthorization, formEncode } from '../src/lib/form';
import { jwtExpiry } from '../src/lib/jwt-expiry';
import { isInvalidTokenChallenge, parseChallenges } from '../src/lib/www-authenticate';

/** How a server decodes one half of a Basic credential (RFC 6749 §2.3.1, Appendix B). */
const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
/** Lone surrogates cannot be UTF-8 encoded; form-encoding turns them into U+FFFD, as String#toWellFormed does. */
const wellFormed = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

describe('client_secret_basic encoding', () => {
  it('round-trips any id and secret, and the only raw colon is the separator', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }), (id, secret) => {
        const header = basicAuthorization(id, secret);
        expect(header).toMatch(/^Basic [A-Za-z0-9+/]+=*$|^Basic $/);
        const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
        const parts = decoded.split(':');
        expect(parts).toHaveLength(2);
        expect(formDecode(parts[0]!)).toBe(wellFormed(id));
        expect(formDecode(parts[1]!)).toBe(wellFormed(secret));
      }),
      { numRuns: 300 },
    );
  });

  it('leaves nothing but unreserved characters and percent-escapes', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
      expect(formEncode(s)).toMatch(/^(?:[A-Za-z0-9*\-._+]|%[0-9A-F]{2})*$/);
    }), { numRuns: 300 });
  });
});

describe('hostile input never throws', () => {
  it('WWW-Authenticate parsing', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (header) => {
      expect(() => parseChallenges(header)).not.toThrow();
      expect(typeof isInvalidTokenChallenge(header)).toBe('boolean');
    }), { numRuns: 500 });
  });

  it('a JWT exp is read only when it is a finite number', () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 30 }), (payload, junk) => {
      const exp = jwtExpiry(`${b64({ alg: 'ES256' })}.${b64(payload)}.sig`);
      const own = typeof payload === 'object' && payload !== null && !Array.isArray(payload) && Object.prototype.hasOwnProperty.call(payload, 'exp')
        ? (payload as Record<string, unknown>).exp : undefined;
      expect(exp).toBe(typeof own === 'number' && Number.isFinite(own) ? own : undefined);
      expect(() => jwtExpiry(junk)).not.toThrow();
    }), { numRuns: 300 });
  });

  it('an exp of 1e400, a string, or under __proto__ is not an expiry', () => {
    const raw = (payload: string): string => `e30.${Buffer.from(payload).toString('base64url')}.sig`;
    expect(jwtExpiry(raw('{"exp":1e400}'))).toBeUndefined();
    expect(jwtExpiry(raw('{"exp":"2000000000"}'))).toBeUndefined();
    expect(jwtExpiry(raw('{"__proto__":{"exp":2000000000}}'))).toBeUndefined();
    expect(jwtExpiry(raw('{"exp":2000000000.5}'))).toBe(2000000000.5);
    expect(jwtExpiry(raw(`${'['.repeat(5000)}${']'.repeat(5000)}`))).toBeUndefined();
  });
});
