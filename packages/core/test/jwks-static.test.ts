import { jwtVerify } from 'jose';
import { createKeySource } from '../src/lib/key-sources';
import { noopTelemetry, type Telemetry } from '../src/lib/telemetry';
import { TokenError } from '../src/errors';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';

const issuer = 'https://idp.example.test/';
const ALL = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

function recorder(): Telemetry & { events: Record<string, unknown>[]; warnings: string[] } {
  const events: Record<string, unknown>[] = [];
  const warnings: string[] = [];
  return { ...noopTelemetry, events, warnings, event: (e) => void events.push(e), warnOnce: (_k, _o, msg) => void warnings.push(msg) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof TokenError ? err.code : `other:${String(err)}`;
  }
}

describe('static key set (keys)', () => {
  let rsa: TestKey, ec: TestKey, ed: TestKey, ec2: TestKey;
  beforeAll(async () => {
    [rsa, ec, ed, ec2] = await Promise.all([makeKey('RS256'), makeKey('ES256'), makeKey('EdDSA'), makeKey('ES256')]);
  });

  it('resolves by kid and the resolved key verifies a real token', async () => {
    const src = createKeySource({ issuer, keys: jwks(rsa, ec, ed), algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    for (const k of [rsa, ec, ed]) {
      const token = await signToken(k, { sub: 's' });
      const resolved = await src.resolve({ alg: k.alg, kid: k.kid });
      const { payload } = await jwtVerify(token, resolved.key as CryptoKey, { algorithms: [k.alg] });
      expect(payload.sub).toBe('s');
      expect(resolved.kid).toBe(k.kid);
      expect(resolved.jwk).not.toHaveProperty('d');
      expect(src.isCurrent(resolved)).toBe(true);
      // same object every time
      expect(await src.resolve({ alg: k.alg, kid: k.kid })).toBe(resolved);
    }
    expect(src.health()).toEqual({ issuer, state: 'fresh', keys: 3 });
    // the key-count gauge hears about static sets too
    const counted: number[] = [];
    const t = { ...noopTelemetry, keySet: (_i: string, n: number) => void counted.push(n) };
    await createKeySource({ issuer, keys: jwks(rsa, ec), algorithms: ALL, jwks: {} }, { telemetry: t }).resolve({ alg: 'ES256', kid: ec.kid });
    expect(counted).toEqual([2]);
  });

  it('rejects a kid of the wrong family, unknown kids and non-string kids with key_not_found', async () => {
    const src = createKeySource({ issuer, keys: jwks(rsa, ec), algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    expect(await code(src.resolve({ alg: 'ES256', kid: rsa.kid }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'ES384', kid: ec.kid }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'RS256', kid: 'nope' }))).toBe('key_not_found');
    for (const kid of [42, ['a'], { a: 1 }, '', 'x'.repeat(8192), '../../dev/null', null] as unknown[]) {
      expect(await code(src.resolve({ alg: 'RS256', kid } as never))).toBe('key_not_found');
    }
    // HS* never with keys from a key set, even when allowed
    const hs = createKeySource({ issuer, keys: jwks(rsa), algorithms: ['RS256', 'HS256'], jwks: {} }, { telemetry: noopTelemetry });
    expect(await code(hs.resolve({ alg: 'HS256', kid: rsa.kid }))).toBe('key_not_found');
    // an alg outside the allowlist never resolves
    expect(await code(src.resolve({ alg: 'PS384', kid: rsa.kid }))).toBe('key_not_found');
  });

  it('without kid: the single key that fits the alg; several candidates are ambiguous', async () => {
    const set = { keys: [{ ...rsa.jwk, alg: undefined }, ec.jwk, ec2.jwk] };
    const src = createKeySource({ issuer, keys: set, algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    // an RSA key without its own alg serves every RSA algorithm, each with its own imported key
    const rs = await src.resolve({ alg: 'RS256' });
    const ps = await src.resolve({ alg: 'PS256' });
    expect(rs.kid).toBe(rsa.kid);
    expect(ps.kid).toBe(rsa.kid);
    expect(ps).not.toBe(rs);
    expect(src.isCurrent(ps)).toBe(true);
    expect(await code(src.resolve({ alg: 'ES256' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'EdDSA' }))).toBe('key_not_found');
  });

  it("respects the JWK's own alg, use and key_ops", async () => {
    const set = {
      keys: [
        { ...rsa.jwk, alg: 'RS256' },
        { ...ec.jwk, use: 'enc' },
        { ...ec2.jwk, key_ops: ['sign'] },
        { ...ed.jwk, use: undefined, key_ops: ['verify'] },
      ],
    };
    const src = createKeySource({ issuer, keys: set, algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    expect(await code(src.resolve({ alg: 'RS256', kid: rsa.kid }))).toBe('resolved');
    expect(await code(src.resolve({ alg: 'PS256', kid: rsa.kid }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'ES256', kid: ec.kid }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'ES256', kid: ec2.kid }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'EdDSA', kid: ed.kid }))).toBe('resolved');
  });

  it('refuses private keys from the set and raises an anomaly', async () => {
    const { exportJWK } = await import('jose');
    const priv = { ...(await exportJWK(ec.privateKey)), kid: 'leaked', alg: 'ES256' };
    const t = recorder();
    const src = createKeySource({ issuer, keys: { keys: [priv, rsa.jwk] }, algorithms: ALL, jwks: {} }, { telemetry: t });
    expect(await code(src.resolve({ alg: 'ES256', kid: 'leaked' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'RS256', kid: rsa.kid }))).toBe('resolved');
    expect(t.events).toEqual([expect.objectContaining({ type: 'anomaly', kind: 'jwks_private_key', issuer, kid: 'leaked' })]);
    expect(t.warnings.join('\n')).toMatch(/private/);
    expect(JSON.stringify(t.events)).not.toContain(String(priv.d));
  });

  it('refuses weak RSA and off-curve EC keys', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const off = { ...ec.jwk, kid: 'off', y: Buffer.from(Buffer.from(ec.jwk.y!, 'base64url').map((b, i) => (i === 5 ? b ^ 1 : b))).toString('base64url') };
    const t = recorder();
    const src = createKeySource({ issuer, keys: { keys: [{ ...weak, kid: 'weak' }, off, rsa.jwk] }, algorithms: ALL, jwks: {} }, { telemetry: t });
    expect(await code(src.resolve({ alg: 'RS256', kid: 'weak' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'ES256', kid: 'off' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'RS256', kid: rsa.kid }))).toBe('resolved');
    expect(src.health().keys).toBe(1);
  });

  it('duplicate kids with different keys are all refused; exact repeats collapse', async () => {
    const t = recorder();
    const set = { keys: [{ ...ec.jwk, kid: 'dup' }, { ...ec2.jwk, kid: 'dup' }, rsa.jwk, rsa.jwk] };
    const src = createKeySource({ issuer, keys: set, algorithms: ALL, jwks: {} }, { telemetry: t });
    expect(await code(src.resolve({ alg: 'ES256', kid: 'dup' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'RS256', kid: rsa.kid }))).toBe('resolved');
    expect(src.health().keys).toBe(1);
    expect(t.warnings.join('\n')).toMatch(/duplicate_kid/);
  });

  it('isCurrent is false for a key of another source', async () => {
    const a = createKeySource({ issuer, keys: jwks(rsa), algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    const b = createKeySource({ issuer: 'https://other.test/', keys: jwks(rsa), algorithms: ALL, jwks: {} }, { telemetry: noopTelemetry });
    const ka = await a.resolve({ alg: 'RS256', kid: rsa.kid });
    expect(a.isCurrent(ka)).toBe(true);
    expect(b.isCurrent(ka)).toBe(false);
  });

  it('rejects bad configuration with a TypeError naming the option', () => {
    const mk = (keys: unknown, more: object = {}) => () => createKeySource({ issuer, keys: keys as never, algorithms: ALL, jwks: {}, ...more }, { telemetry: noopTelemetry });
    expect(mk(null)).toThrow(/"keys"/);
    expect(mk({ keys: 'x' })).toThrow(/"keys"/);
    expect(mk({ keys: [] })).toThrow(/"keys"/);
    expect(mk({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toThrow(/"keys"/);
    expect(mk(jwks(rsa), { algorithms: [] })).toThrow(/"algorithms"/);
    expect(mk(jwks(rsa), { issuer: '' })).toThrow(/"issuer"/);
    expect(mk(jwks(rsa), { jwks: { timeout: 'soon' } })).toThrow(/"jwks.timeout"/);
    expect(mk(jwks(rsa), { jwks: { maxKeys: 0 } })).toThrow(/"jwks.maxKeys"/);
    expect(mk(undefined, { jwksUri: 'ftp://x/jwks' })).toThrow(/"jwksUri"/);
    expect(mk(undefined, { issuer: 'not a url' })).toThrow(/"issuer"/);
  });
});

describe('HS secret', () => {
  const secret32 = 'a'.repeat(32);
  it('verifies HS256 tokens and keeps identity', async () => {
    const { SignJWT } = await import('jose');
    const src = createKeySource({ issuer, secret: secret32, algorithms: ['HS256'], jwks: {} }, { telemetry: noopTelemetry });
    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret32));
    const r = await src.resolve({ alg: 'HS256' });
    expect((await jwtVerify(token, r.key as Uint8Array)).payload.sub).toBe('x');
    expect(await src.resolve({ alg: 'HS256', kid: 'whatever' })).toBe(r);
    expect(src.isCurrent(r)).toBe(true);
    expect(src.isCurrent({ key: new Uint8Array(32) })).toBe(false);
    expect(await code(src.resolve({ alg: 'RS256' }))).toBe('key_not_found');
    expect(await code(src.resolve({ alg: 'HS384' }))).toBe('key_not_found');
    expect(src.health().state).toBe('fresh');
  });
  it('rejects short secrets and non-HS algorithms at construction', () => {
    const mk = (secret: string | Uint8Array, algorithms: string[]) => () => createKeySource({ issuer, secret, algorithms, jwks: {} }, { telemetry: noopTelemetry });
    expect(mk('a'.repeat(31), ['HS256'])).toThrow(TypeError);
    expect(mk('a'.repeat(32), ['HS512'])).toThrow(/64 bytes for HS512/);
    expect(mk(new Uint8Array(48), ['HS384'])).not.toThrow();
    expect(mk(secret32, ['HS256', 'RS256'])).toThrow(/"secret"/);
    expect(mk(42 as never, ['HS256'])).toThrow(/"secret"/);
  });
});
