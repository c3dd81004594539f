/**
 * The hostile-token table of THREATS.md, run against both signature engines. Every case asserts the exact
 * code and status; the key set is served over real HTTP and a trap server proves no request goes anywhere
 * but the configured key source.
 */
import { createPublicKey, KeyObject, sign as cryptoSign, createHmac } from 'node:crypto';
import { exportJWK, exportSPKI } from 'jose';
import { createTokenVerifier, hasScopes, TokenError, type AuthInfo, type TokenVerifier } from '@tokenguard/core';
import { b64u, jwks, makeKey, rawToken, signRaw, signToken, type TestKey } from '../../../test/helpers/keys';
import { jsonServer, listen, type TestServer } from '../../../test/helpers/http';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';
const now = () => Math.floor(Date.now() / 1000);

/** Signs arbitrary header and payload text with node:crypto (test-only: lets us send validly signed hostile headers). */
function signParts(key: TestKey, header: object | string, payload: object | string): string {
  const input = `${b64u(typeof header === 'string' ? header : JSON.stringify(header))}.${b64u(typeof payload === 'string' ? payload : JSON.stringify(payload))}`;
  const priv = KeyObject.from(key.privateKey);
  const sig = key.alg === 'EdDSA' ? cryptoSign(null, Buffer.from(input), priv)
    : key.alg.startsWith('ES') ? cryptoSign('sha256', Buffer.from(input), { key: priv, dsaEncoding: 'ieee-p1363' })
      : cryptoSign('sha256', Buffer.from(input), priv);
  return `${input}.${sig.toString('base64url')}`;
}

function hs256(secret: Uint8Array | string, header: object, payload: object): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function outcome(p: Promise<AuthInfo | undefined>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    return `${err.code} ${err.status}`;
  }
}

interface Ctx {
  rsa: TestKey; ec: TestKey; ed: TestKey; attacker: TestKey; attackerEc: TestKey;
  trapUrl: string;
  claims: (extra?: Record<string, unknown>) => Record<string, unknown>;
}

type Case = [name: string, build: (c: Ctx) => Promise<string> | string, expected: string];

const base = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: AUD, sub: 'svc', client_id: 'c1', iat: now(), exp: now() + 300, jti: `j${Math.random()}`, ...extra });
/**
 * A signed token just over the default 8,192-character cap. n more payload bytes add 4n/3 ± 1 base64url
 * characters, so the token has 8,193–8,197 characters.
 */
function oneOverTheCap(key: TestKey): string {
  const claims = base();
  const header = { alg: 'RS256', kid: key.kid };
  const bare = signParts(key, header, { ...claims, pad: '' }).length;
  const token = signParts(key, header, { ...claims, pad: 'x'.repeat(Math.ceil(((8194 - bare) * 3) / 4)) });
  if (token.length <= 8192 || token.length > 8197) throw new Error(`test token is ${token.length} characters, not just over the cap`);
  return token;
}

const P256_N = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');

const structure: Case[] = [
  ['empty token', () => '', 'token_malformed 401'],
  ['one segment', () => 'abc', 'token_malformed 401'],
  ['two segments', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).split('.').slice(0, 2).join('.'), 'token_malformed 401'],
  ['two segments, header not JSON', () => `${b64u('not json')}.${b64u(base())}`, 'token_malformed 401'],
  ['four segments', (c) => `${signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base())}.x`, 'token_malformed 401'],
  ['five segments (JWE, PBES2 p2c bomb)', () => `${b64u({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2 ** 31 - 1, p2s: 'c2FsdA' })}.a.b.c.d`, 'token_malformed 401'],
  ['five segments (JWE, zip)', () => `${b64u({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}..aXY.Y3Q.dGFn`, 'token_malformed 401'],
  ['empty segments', () => '..', 'token_malformed 401'],
  ['empty payload', (c) => `${b64u({ alg: 'RS256', kid: c.rsa.kid })}..c2ln`, 'token_malformed 401'],
  ['"+" in a segment', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).replace(/^(.)/, '+'), 'token_malformed 401'],
  ['"/" in a segment', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).replace(/\.(.)/, './'), 'token_malformed 401'],
  ['"%" in a segment', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).replace(/^(.)/, '%'), 'token_malformed 401'],
  ['non-ASCII in a segment', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).replace(/^(.)/, 'é'), 'token_malformed 401'],
  ['padding', (c) => `${signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base())}==`, 'token_malformed 401'],
  ['impossible base64url length', (c) => `${b64u({ alg: 'RS256', kid: c.rsa.kid })}.${b64u(base())}.abcde`, 'token_malformed 401'],
  ['header not JSON', () => `${b64u('not json')}.${b64u(base())}.c2ln`, 'token_malformed 401'],
  ['header invalid UTF-8', () => `${b64u(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))}.${b64u(base())}.c2ln`, 'token_malformed 401'],
  ['header JSON array', () => rawToken('["RS256"]', base()), 'token_malformed 401'],
  ['header JSON number', () => rawToken('42', base()), 'token_malformed 401'],
  ['header JSON null', () => rawToken('null', base()), 'token_malformed 401'],
  ['payload JSON array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, '[1,2]'), 'token_malformed 401'],
  ['payload JSON string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, '"x"'), 'token_malformed 401'],
  ['payload not JSON', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, '{iss:'), 'token_malformed 401'],
  ['nested JWT as payload (cty JWT)', async (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, cty: 'JWT' }, JSON.stringify(await signToken(c.rsa, base()))), 'token_malformed 401'],
  ['duplicate alg, none last', (c) => rawToken(`{"alg":"RS256","kid":"${c.rsa.kid}","alg":"none"}`, base(), ''), 'alg_not_allowed 401'],
  ['duplicate alg, none first, forged', (c) => rawToken(`{"alg":"none","kid":"${c.rsa.kid}","alg":"RS256"}`, base(), ''), 'signature_invalid 401'],
  ['far over the length cap', (c) => rawToken({ alg: 'RS256', kid: c.rsa.kid }, { ...base(), pad: 'x'.repeat(20_000) }), 'token_malformed 401'],
  // One claim set for both tokens: base()'s jti is `j${Math.random()}`, whose length varies by a few characters.
  ['one over the length cap', (c) => oneOverTheCap(c.rsa), 'token_malformed 401'],
  ['deeply nested header JSON', (c) => signParts(c.rsa, `{"alg":"RS256","kid":"${c.rsa.kid}","x":${'['.repeat(2000)}${']'.repeat(2000)}}`, base()), 'accepted'],
  ['deeply nested payload JSON, forged', (c) => rawToken({ alg: 'RS256', kid: c.rsa.kid }, `{"iss":"${ISS}","x":${'['.repeat(2500)}${']'.repeat(2500)}}`), 'signature_invalid 401'],
];

const algorithms: Case[] = [
  // Every spelling of none is alg_not_allowed: with an empty signature, with one, and written without the final dot.
  ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): Case[] => [
    [`alg ${alg}, empty signature`, () => rawToken({ alg, typ: 'JWT' }, base(), ''), 'alg_not_allowed 401'],
    [`alg ${alg}, empty signature, no typ`, () => rawToken({ alg }, base(), ''), 'alg_not_allowed 401'],
    [`alg ${alg} with a signature`, () => rawToken({ alg, typ: 'at+jwt' }, base()), 'alg_not_allowed 401'],
    [`alg ${alg}, two segments (no final dot)`, () => rawToken({ alg }, base(), '').slice(0, -1), 'alg_not_allowed 401'],
  ]),
  ['alg empty', () => rawToken({ alg: '' }, base()), 'alg_not_allowed 401'],
  ['alg a number', () => rawToken({ alg: 256 }, base()), 'alg_not_allowed 401'],
  ['alg an array', () => rawToken({ alg: ['RS256'] }, base()), 'alg_not_allowed 401'],
  ['alg missing', () => rawToken({ typ: 'JWT' }, base()), 'token_malformed 401'],
  ['alg rs256 (wrong case)', (c) => rawToken({ alg: 'rs256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['alg allowed by jose but not configured (ES384)', (c) => rawToken({ alg: 'ES384', kid: c.ec.kid }, base()), 'alg_not_allowed 401'],
  ['alg RS512 not configured', (c) => rawToken({ alg: 'RS512', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with an empty secret', (c) => hs256('', { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the public key as SPKI PEM', async (c) => hs256(await exportSPKI(c.rsa.publicKey), { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the public key as PKCS#1 PEM', (c) => hs256(KeyObject.from(c.rsa.publicKey).export({ type: 'pkcs1', format: 'pem' }) as string, { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the public key as PEM with a leading space', async (c) => hs256(` ${await exportSPKI(c.rsa.publicKey)}`, { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the public key as DER', (c) => hs256(KeyObject.from(c.rsa.publicKey).export({ type: 'spki', format: 'der' }), { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the public JWK JSON', (c) => hs256(JSON.stringify(c.rsa.jwk), { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['HS256 with the JWKS JSON', (c) => hs256(JSON.stringify(jwks(c.rsa, c.ec, c.ed)), { alg: 'HS256', kid: c.rsa.kid }, base()), 'alg_not_allowed 401'],
  ['known RSA kid used with ES256', (c) => signParts(c.ec, { alg: 'ES256', kid: c.rsa.kid }, base()), 'key_not_found 401'],
  ['known EC kid used with RS256', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.ec.kid }, base()), 'key_not_found 401'],
  ['psychic signature: all-zero r and s', (c) => `${b64u({ alg: 'ES256', kid: c.ec.kid })}.${b64u(base())}.${b64u(Buffer.alloc(64))}`, 'signature_invalid 401'],
  ['psychic signature: r = s = n', (c) => `${b64u({ alg: 'ES256', kid: c.ec.kid })}.${b64u(base())}.${b64u(Buffer.concat([P256_N, P256_N]))}`, 'signature_invalid 401'],
  ['ECDSA signature one byte short', (c) => { const [h, p, s] = signParts(c.ec, { alg: 'ES256', kid: c.ec.kid }, base()).split('.'); return `${h}.${p}.${b64u(Buffer.from(s!, 'base64url').subarray(0, 63))}`; }, 'signature_invalid 401'],
  ['ECDSA signature one byte long', (c) => { const [h, p, s] = signParts(c.ec, { alg: 'ES256', kid: c.ec.kid }, base()).split('.'); return `${h}.${p}.${b64u(Buffer.concat([Buffer.from(s!, 'base64url'), Buffer.alloc(1)]))}`; }, 'signature_invalid 401'],
  ['ECDSA signature in DER form', (c) => { const [h, p, s] = signParts(c.ec, { alg: 'ES256', kid: c.ec.kid }, base()).split('.'); const raw = Buffer.from(s!, 'base64url'); return `${h}.${p}.${b64u(Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), raw.subarray(0, 32), Buffer.from([0x02, 0x20]), raw.subarray(32)]))}`; }, 'signature_invalid 401'],
  ['RSA signature truncated', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).slice(0, -10), 'signature_invalid 401'],
  ['empty signature', (c) => `${b64u({ alg: 'RS256', kid: c.rsa.kid })}.${b64u(base())}.`, 'signature_invalid 401'],
  ['correct kid, attacker key', (c) => signParts(c.attacker, { alg: 'RS256', kid: c.rsa.kid }, base()), 'signature_invalid 401'],
  ['payload altered after signing', (c) => { const [h, , s] = signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base()).split('.'); return `${h}.${b64u(base({ scope: 'admin' }))}.${s}`; }, 'signature_invalid 401'],
];

const keyHeaders: Case[] = [
  ['embedded jwk (attacker key, no kid, two RSA keys)', async (c) => signParts(c.attacker, { alg: 'RS256', jwk: await exportJWK(c.attacker.publicKey) }, base()), 'key_not_found 401'],
  ['embedded jwk (attacker EC key, no kid, one EC key)', async (c) => signParts(c.attackerEc, { alg: 'ES256', jwk: await exportJWK(c.attackerEc.publicKey) }, base()), 'signature_invalid 401'],
  ['embedded jwk with the attacker kid', async (c) => signParts(c.attacker, { alg: 'RS256', kid: c.attacker.kid, jwk: c.attacker.jwk }, base()), 'key_not_found 401'],
  ['embedded jwk with the real kid', (c) => signParts(c.attacker, { alg: 'RS256', kid: c.rsa.kid, jwk: c.attacker.jwk }, base()), 'signature_invalid 401'],
  ['jku to the trap server', (c) => signParts(c.attacker, { alg: 'RS256', kid: c.attacker.kid, jku: `${c.trapUrl}/jwks.json` }, base()), 'key_not_found 401'],
  ['x5u to the trap server', (c) => signParts(c.attackerEc, { alg: 'ES256', kid: c.attackerEc.kid, x5u: `${c.trapUrl}/cert.pem` }, base()), 'key_not_found 401'],
  ['x5c with the attacker certificate bytes', (c) => signParts(c.attacker, { alg: 'RS256', kid: c.rsa.kid, x5c: [KeyObject.from(c.attacker.publicKey).export({ type: 'spki', format: 'der' }).toString('base64')] }, base()), 'signature_invalid 401'],
  ...['../../dev/null', "' OR '1'='1' --", '$(reboot)', '`id`', '', 'a\r\nSet-Cookie: x=1', '%00', 'x'.repeat(5000)].map((kid): Case => [`kid ${JSON.stringify(kid.slice(0, 20))}${kid.length > 20 ? '…' : ''}`, (c) => signParts(c.attacker, { alg: 'RS256', kid }, base()), 'key_not_found 401']),
  ...[123, ['a'], { a: 1 }, null, true].map((kid): Case => [`kid ${JSON.stringify(kid)}`, (c) => signParts(c.attacker, { alg: 'RS256', kid }, base()), 'token_malformed 401']),
  ['no kid while several keys fit (RSA x2)', (c) => signParts(c.rsa, { alg: 'RS256' }, base()), 'key_not_found 401'],
  ['crit with an unknown name', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, crit: ['x-unknown'], 'x-unknown': 1 }, base()), 'token_malformed 401'],
  ['crit with a registered name', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, crit: ['exp'] }, base()), 'token_malformed 401'],
  ['crit empty', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, crit: [] }, base()), 'token_malformed 401'],
  ['crit not an array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, crit: 'b64' }, base()), 'token_malformed 401'],
  ['b64 false', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, b64: false, crit: ['b64'] }, base()), 'token_malformed 401'],
  ['b64 false without crit', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, b64: false }, base()), 'token_malformed 401'],
  ['zip in a JWS header', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, zip: 'DEF' }, base()), 'token_malformed 401'],
];

const time: Case[] = [
  ['exp one second ago', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iat: now() - 60, exp: now() - 1 })), 'token_expired 401'],
  ['exp now', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iat: now() - 60, exp: now() })), 'token_expired 401'],
  ['exp 10 s in the future', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: now() + 10 })), 'accepted'],
  ['fractional exp', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: now() + 100.5 })), 'accepted'],
  ['exp 1e400 (Infinity)', (c) => signRaw(c.rsa, `{"iss":"${ISS}","aud":"${AUD}","iat":${now()},"exp":1e400}`), 'claim_invalid 401'],
  ['exp 1e300 (finite, lifetime cap)', (c) => signRaw(c.rsa, `{"iss":"${ISS}","aud":"${AUD}","iat":${now()},"exp":1e300}`), 'claim_invalid 401'],
  ['exp in ten years', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: now() + 10 * 365 * 86400 })), 'claim_invalid 401'],
  ['exp in ten years without iat', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iat: undefined, exp: now() + 10 * 365 * 86400 })), 'claim_invalid 401'],
  ['exp as a string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: String(now() + 300) })), 'claim_invalid 401'],
  ['exp as a boolean', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: true })), 'claim_invalid 401'],
  ['exp null', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: null })), 'claim_invalid 401'],
  ['exp an object', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: { v: now() + 300 } })), 'claim_invalid 401'],
  ['exp missing', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ exp: undefined })), 'claim_invalid 401'],
  ['nbf just in the future', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ nbf: now() + 30 })), 'token_not_yet_valid 401'],
  ['nbf as a string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ nbf: 'now' })), 'claim_invalid 401'],
  ['iat in the future', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iat: now() + 60 })), 'token_not_yet_valid 401'],
  ['iat as a string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iat: 'yesterday' })), 'claim_invalid 401'],
  ['iat NaN-like (1e400)', (c) => signRaw(c.rsa, `{"iss":"${ISS}","aud":"${AUD}","iat":1e400,"exp":${now() + 60}}`), 'claim_invalid 401'],
];

const issAudTyp: Case[] = [
  ['iss without the trailing slash', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: ISS.slice(0, -1) })), 'issuer_invalid 401'],
  ['iss upper case', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: ISS.toUpperCase() })), 'issuer_invalid 401'],
  ['iss with :443', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: 'https://idp.example.test:443/' })), 'issuer_invalid 401'],
  ['iss an array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: [ISS] })), 'issuer_invalid 401'],
  ['iss missing', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: undefined })), 'issuer_invalid 401'],
  ['iss __proto__', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ iss: '__proto__' })), 'issuer_invalid 401'],
  ['iss unknown (attacker issuer)', (c) => signParts(c.attacker, { alg: 'RS256', kid: c.attacker.kid, jku: `${c.trapUrl}/jwks` }, base({ iss: c.trapUrl })), 'issuer_invalid 401'],
  ['aud wrong', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: 'billing-api' })), 'audience_invalid 401'],
  ['aud empty string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: '' })), 'audience_invalid 401'],
  ['aud empty array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: [] })), 'audience_invalid 401'],
  ['aud nested array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: [[AUD]] })), 'audience_invalid 401'],
  ['aud nested array next to a match', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: [AUD, [AUD]] })), 'audience_invalid 401'],
  ['aud different case', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: AUD.toUpperCase() })), 'audience_invalid 401'],
  ['aud trailing space', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: `${AUD} ` })), 'audience_invalid 401'],
  ['aud missing', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: undefined })), 'audience_invalid 401'],
  ['aud array holding the audience', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ aud: ['other', AUD] })), 'accepted'],
  ['typ dpop+jwt (a DPoP proof as access token)', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, typ: 'dpop+jwt' }, base()), 'claim_invalid 401'],
  ['typ application/logout+jwt', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, typ: 'application/logout+jwt' }, base()), 'claim_invalid 401'],
  ['typ JWT outside strict mode', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid, typ: 'JWT' }, base()), 'accepted'],
  ['DPoP-bound token (cnf.jkt) sent as Bearer', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ cnf: { jkt: 'abc' } })), 'claim_invalid 401'],
  ['cnf with an x5t#S256 only (mTLS-bound) is not refused here', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ cnf: { 'x5t#S256': 'abc' } })), 'accepted'],
  ['sub not a string', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ sub: 42 })), 'claim_invalid 401'],
  ['scope a number', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ scope: 7 })), 'claim_invalid 401'],
  ['scope an array', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ scope: ['admin'] })), 'claim_invalid 401'],
  ['scp an array with a number', (c) => signParts(c.rsa, { alg: 'RS256', kid: c.rsa.kid }, base({ scp: ['read', 1] })), 'claim_invalid 401'],
];

// The node engine runs the table twice: signatures on the event loop and on the thread pool (`offload`).
describe.each([['node', false], ['node', true], ['jose', false]] as const)('hostile tokens (engine %s, offload %s)', (engine, offload) => {
  const ctx = {} as Ctx;
  let verifier: TokenVerifier;
  let jwksServer: Awaited<ReturnType<typeof jsonServer>>;
  let trap: TestServer;
  let trapHits = 0;

  beforeAll(async () => {
    const [rsa, rsa2, ec, ed, attacker, attackerEc] = await Promise.all([makeKey('RS256'), makeKey('RS256'), makeKey('ES256'), makeKey('EdDSA'), makeKey('RS256'), makeKey('ES256')]);
    Object.assign(ctx, { rsa, ec, ed, attacker, attackerEc, claims: base });
    trap = await listen((_req, res) => {
      trapHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks(attacker, attackerEc)));
    });
    ctx.trapUrl = trap.url;
    jwksServer = await jsonServer(jwks(rsa, rsa2, ec, ed));
    verifier = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUri: `${jwksServer.url}/jwks.json`, clockTolerance: 0, engine, offload, metrics: false, jwks: { cooldown: '1h' } });
  });
  afterAll(async () => {
    await verifier.close();
    await jwksServer.close();
    await trap.close();
  });

  describe.each([
    ['structure', structure], ['algorithms', algorithms], ['key-source headers and crit/b64', keyHeaders], ['time', time], ['iss/aud', issAudTyp],
  ] as const)('%s', (_group, cases) => {
    it.each(cases.map(([name, build, expected]) => ({ name, build, expected })))('$name → $expected', async ({ build, expected }) => {
      const token = await build(ctx);
      const started = Date.now();
      expect(await outcome(verifier.verify(token))).toBe(expected);
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });

  it('never contacted the trap server, and fetched the key set at most twice (first fetch, one unknown-kid refetch)', () => {
    expect(trapHits).toBe(0);
    expect(jwksServer.hits()).toBeGreaterThanOrEqual(1);
    expect(jwksServer.hits()).toBeLessThanOrEqual(2);
  });

  it('descriptions never echo the kid, claim values or the token', async () => {
    const kid = 'KID-SECRET-\u0001-VALUE';
    const token = signParts(ctx.attacker, { alg: 'RS256', kid }, base({ aud: 'AUD-SECRET' }));
    const err = await verifier.verify(token).then(() => { throw new Error('accepted'); }, (e: TokenError) => e);
    expect(err).toBeInstanceOf(TokenError);
    const text = `${err.message} ${err.description} ${err.challenge} ${JSON.stringify(err.toJSON())}`;
    expect(text).not.toContain('KID-SECRET');
    expect(text).not.toContain(token.slice(0, 20));
    const err2 = await verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, base({ aud: 'AUD-SECRET' }))).then(() => { throw new Error('accepted'); }, (e: TokenError) => e);
    expect(err2.code).toBe('audience_invalid');
    expect(`${err2.description} ${err2.challenge}`).not.toContain('AUD-SECRET');
  });

  it('keeps the underlying error as cause', async () => {
    const err = await verifier.verify(signParts(ctx.attacker, { alg: 'RS256', kid: ctx.rsa.kid }, base())).then(() => { throw new Error('accepted'); }, (e: TokenError) => e);
    expect(err.code).toBe('signature_invalid');
    if (engine === 'jose') expect((err.cause as { code?: string }).code).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  it('reads claims as own properties (__proto__, constructor)', async () => {
    const payload = `{"iss":"${ISS}","aud":"${AUD}","iat":${now()},"exp":${now() + 60},"__proto__":{"scope":"admin","sub":"root"},"constructor":{"prototype":{"admin":true}}}`;
    const auth = await verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, payload));
    expect(auth.scopes.size).toBe(0);
    expect(auth.subject).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(hasScopes(auth, 'admin')).toBe(false);
  });

  it('a polluted Object.prototype never supplies a claim the token lacks', async () => {
    // Names another bug in the process could have planted on Object.prototype: reads of the token's claims must
    // still see only the token's own properties (the verifier's fast reads fall back to hasOwnProperty).
    const planted: Record<string, unknown> = { sub: 'root', scope: 'admin', scp: ['admin'], client_id: 'root-client', jti: 'planted', exp: now() + 600, cnf: { jkt: 'x' } };
    for (const [name, value] of Object.entries(planted)) Object.defineProperty(Object.prototype, name, { value, configurable: true, writable: true, enumerable: false });
    try {
      const { exp: _exp, ...noExp } = base();
      expect(await outcome(verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, noExp)))).toBe('claim_invalid 401');
      const auth = await verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, `{"iss":"${ISS}","aud":"${AUD}","iat":${now()},"exp":${now() + 60}}`));
      expect(auth.subject).toBeUndefined();
      expect(auth.clientId).toBeUndefined();
      expect(auth.scopes.size).toBe(0);
      expect(hasScopes(auth, 'admin')).toBe(false);
    } finally {
      for (const name of Object.keys(planted)) delete (Object.prototype as Record<string, unknown>)[name];
    }
    expect('sub' in {}).toBe(false);
  });

  it.each([
    ['read,admin'], ['read+admin'], ['read%20admin'], ['read\u00a0admin'], ['read\tadmin'], ['read\nadmin'], ['administrator'], ['ADMIN'], ['admin*'], ['read  write'], [''],
  ])('scope %j does not grant admin', async (scope) => {
    const auth = await verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, base({ scope })));
    expect(hasScopes(auth, 'admin')).toBe(false);
    expect(hasScopes(auth, ['admin'], { mode: 'any' })).toBe(false);
    if (scope === 'read  write') expect([...auth.scopes]).toEqual(['read', 'write']);
  });

  it('missing scope means no scopes', async () => {
    const auth = await verifier.verify(signParts(ctx.rsa, { alg: 'RS256', kid: ctx.rsa.kid }, base()));
    expect(auth.scopes.size).toBe(0);
    expect(hasScopes(auth, 'read')).toBe(false);
  });
});

describe.each([['node', false], ['node', true], ['jose', false]] as const)('strict RFC 9068 mode (engine %s, offload %s)', (engine, offload) => {
  let key: TestKey;
  let verifier: TokenVerifier;
  beforeAll(async () => {
    key = await makeKey('ES256');
    verifier = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, strict: true, engine, offload, metrics: false });
  });
  afterAll(() => verifier.close());
  const sign = (typ: string | undefined, extra: Record<string, unknown> = {}) => signParts(key, { alg: 'ES256', kid: key.kid, ...(typ === undefined ? {} : { typ }) }, base(extra));

  it.each(([
    ['typ at+jwt', () => sign('at+jwt'), 'accepted'],
    ['typ AT+JWT', () => sign('AT+JWT'), 'accepted'],
    ['typ application/at+jwt', () => sign('application/at+jwt'), 'accepted'],
    ['typ JWT', () => sign('JWT'), 'claim_invalid 401'],
    ['typ missing', () => sign(undefined), 'claim_invalid 401'],
    ['typ dpop+jwt', () => sign('dpop+jwt'), 'claim_invalid 401'],
    ['typ "at+jwt " (trailing space)', () => sign('at+jwt '), 'claim_invalid 401'],
    ['typ a number', () => signParts(key, { alg: 'ES256', kid: key.kid, typ: 1 }, base()), 'claim_invalid 401'],
    ['sub missing', () => sign('at+jwt', { sub: undefined }), 'claim_invalid 401'],
    ['client_id missing', () => sign('at+jwt', { client_id: undefined }), 'claim_invalid 401'],
    ['jti missing', () => sign('at+jwt', { jti: undefined }), 'claim_invalid 401'],
    ['iat missing', () => sign('at+jwt', { iat: undefined }), 'claim_invalid 401'],
    ['scope an array', () => sign('at+jwt', { scope: ['a'] }), 'claim_invalid 401'],
    ['an ID token presented as an access token', () => signParts(key, { alg: 'ES256', kid: key.kid, typ: 'JWT' }, { iss: ISS, aud: AUD, sub: 'user', iat: now(), exp: now() + 60, nonce: 'n', auth_time: now() }), 'claim_invalid 401'],
  ] as const).map(([name, build, expected]) => ({ name, build, expected })))('$name → $expected', async ({ build, expected }) => {
    expect(await outcome(verifier.verify(build()))).toBe(expected);
  });
});

describe.each(['node', 'jose'] as const)('HS256 secret issuers and multi-issuer isolation (engine %s)', (engine) => {
  const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
  const A = 'https://a.example.test';
  const B = 'https://b.example.test';
  let rsaA: TestKey, rsaB: TestKey;
  let verifier: TokenVerifier;
  beforeAll(async () => {
    [rsaA, rsaB] = await Promise.all([makeKey('RS256'), makeKey('RS256')]);
    verifier = createTokenVerifier({
      issuer: [{ issuer: A, keys: jwks(rsaA) as never }, { issuer: B, keys: jwks(rsaB) as never }, { issuer: ISS, secret: SECRET, algorithms: ['HS256'] }],
      audience: AUD, engine, metrics: false,
    });
  });
  afterAll(() => verifier.close());

  it.each(([
    ['HS256 with the secret', () => hs256(SECRET, { alg: 'HS256' }, base()), 'accepted'],
    ['HS256 with a wrong secret', () => hs256(`${SECRET}x`, { alg: 'HS256' }, base()), 'signature_invalid 401'],
    ['HS256 with an empty secret', () => hs256('', { alg: 'HS256' }, base()), 'signature_invalid 401'],
    ['HS256 with a weak secret', () => hs256('secret', { alg: 'HS256' }, base()), 'signature_invalid 401'],
    ['RS256 at the HS issuer', () => signParts(rsaA, { alg: 'RS256', kid: rsaA.kid }, base()), 'alg_not_allowed 401'],
    ['HS256 at issuer A keyed with A\'s public PEM', () => hs256(KeyObject.from(rsaA.publicKey).export({ type: 'spki', format: 'pem' }) as string, { alg: 'HS256', kid: rsaA.kid }, base({ iss: A })), 'alg_not_allowed 401'],
    ['HS256 at issuer A keyed with the shared secret', () => hs256(SECRET, { alg: 'HS256' }, base({ iss: A })), 'alg_not_allowed 401'],
    ['issuer A token', () => signParts(rsaA, { alg: 'RS256', kid: rsaA.kid }, base({ iss: A })), 'accepted'],
    ['iss of A with the kid and key of B', () => signParts(rsaB, { alg: 'RS256', kid: rsaB.kid }, base({ iss: A })), 'key_not_found 401'],
    ['iss of A signed by B without kid', () => signParts(rsaB, { alg: 'RS256' }, base({ iss: A })), 'signature_invalid 401'],
  ] as const).map(([name, build, expected]) => ({ name, build, expected })))('$name → $expected', async ({ build, expected }) => {
    expect(await outcome(verifier.verify(build()))).toBe(expected);
  });

  it('checks the public key really parses (sanity of the PEM attack input)', () => {
    expect(createPublicKey(KeyObject.from(rsaA.publicKey).export({ type: 'spki', format: 'pem' })).asymmetricKeyType).toBe('rsa');
  });
});
