/**
 * fast-check properties: whatever string arrives as a token or as an Authorization header, the verifier
 * only ever rejects with a TokenError (never another exception, never a resolve) and answers promptly.
 */
import fc from 'fast-check';
import { createTokenVerifier, isTokenError, TokenError, type TokenVerifier } from '@tokenguard/core';
import { b64u, jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';
const RUNS = 300;

/** Resolves to 'TokenError' or throws a descriptive error for any other outcome; bounded by `ms`. */
async function onlyTokenError(p: Promise<unknown>, ms = 1000): Promise<TokenError> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); });
  try {
    await Promise.race([p, timeout]);
  } catch (err) {
    if (isTokenError(err)) return err;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('resolved');
}

describe.each(['node', 'jose'] as const)('property: arbitrary input only ever yields a TokenError (engine %s)', (engine) => {
  let key: TestKey;
  let verifier: TokenVerifier;
  let valid: string;
  beforeAll(async () => {
    key = await makeKey('RS256');
    verifier = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, engine, metrics: false });
    valid = await signToken(key, { iss: ISS, aud: AUD });
  });
  afterAll(() => verifier.close());

  it('arbitrary strings as the token', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 50 })), async (s) => {
      fc.pre(s !== valid);
      const err = await onlyTokenError(verifier.verify(s));
      expect(err.status === 400 || err.status === 401 || err.status === 503).toBe(true);
    }), { numRuns: RUNS, interruptAfterTimeLimit: 20_000 });
  });

  it('JWT-shaped strings: three base64url segments of arbitrary JSON', async () => {
    const json = fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.stringify({ alg: 'RS256', kid: key.kid, ...o })));
    await fc.assert(fc.asyncProperty(json, json, fc.uint8Array({ maxLength: 300 }), async (h, p, sig) => {
      const err = await onlyTokenError(verifier.verify(`${b64u(h)}.${b64u(p)}.${b64u(sig)}`));
      expect(err.status).toBe(401);
    }), { numRuns: RUNS, interruptAfterTimeLimit: 20_000 });
  });

  it('a valid token with one character changed is never accepted', async () => {
    await fc.assert(fc.asyncProperty(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...'AbZz09-_.=+/ '), async (i, ch) => {
      const mutated = valid.slice(0, i) + ch + valid.slice(i + 1);
      fc.pre(mutated !== valid);
      // base64url's last character may carry unused bits: a change there can decode to the same bytes.
      const same = Buffer.from(mutated.split('.')[2] ?? '', 'base64url').equals(Buffer.from(valid.split('.')[2]!, 'base64url')) && mutated.split('.').slice(0, 2).join('.') === valid.split('.').slice(0, 2).join('.');
      fc.pre(!same);
      await onlyTokenError(verifier.verify(mutated));
    }), { numRuns: RUNS, interruptAfterTimeLimit: 20_000 });
  });

  it('arbitrary Authorization header values', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.string().map((s) => `Bearer ${s}`), fc.string().map((s) => `bearer\t${s}`)), async (h) => {
      const err = await onlyTokenError(verifier.verifyRequest({ headers: { authorization: h }, method: 'GET', url: '/' }));
      expect([400, 401]).toContain(err.status);
    }), { numRuns: RUNS, interruptAfterTimeLimit: 20_000 });
  });

  it('arbitrary query strings and form bodies', async () => {
    await fc.assert(fc.asyncProperty(fc.string(), fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.array(fc.string())))), async (q, body) => {
      const err = await onlyTokenError(verifier.verifyRequest({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', url: `/x?${q}`, body }));
      expect([400, 401]).toContain(err.status);
    }), { numRuns: RUNS, interruptAfterTimeLimit: 20_000 });
  });
});
