/**
 * Configuration rules (a bad option is a TypeError naming it), embedding with createIssuer, the grant rules
 * through issueToken, and the secret hashes.
 */
import { createIssuer, hashClientSecret, isSecretHash, resolveConfig, verifyClientSecret, type IssuerConfig } from '@tokenguard/issuer';
import { listen } from '../../../test/helpers/http';
import { claimsOf, makeClient, requestToken } from './support';

describe('resolveConfig', () => {
  test('defaults', () => {
    const cfg = resolveConfig({});
    expect(cfg).toMatchObject({
      issuer: undefined, host: '127.0.0.1', port: 4000, dataDir: undefined, algorithm: 'ES256',
      rotateEvery: 86_400, prePublish: 900, clockTolerance: 5, defaultTtl: 600, maxTtl: 3600,
      rateLimit: { window: 60, perClient: 20, perAddress: 10 },
    });
    expect(resolveConfig({ dataDir: 'x', baseDir: '/srv/tg' }).dataDir).toBe('/srv/tg/x');
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', 42, /must be an object/],
    ['unknown option', { signin: {} }, /unknown option "signin"/],
    ['relative issuer', { issuer: 'auth.example' }, /"issuer" must be an absolute http\(s\) URL/],
    ['issuer with query', { issuer: 'https://a.example/?x=1' }, /"issuer" must not have a query/],
    ['port out of range', { listen: { port: 70000 } }, /"listen.port"/],
    ['unknown listen key', { listen: { hots: 'x' } }, /unknown option "listen.hots"/],
    ['HS256', { signing: { algorithm: 'HS256' } }, /"signing.algorithm" must be one of/],
    ['none', { signing: { algorithm: 'none' } }, /"signing.algorithm"/],
    ['bad duration', { signing: { rotateEvery: 'soon' } }, /"signing.rotateEvery"/],
    ['prePublish >= rotateEvery', { signing: { rotateEvery: '1h', prePublish: '2h' } }, /"signing.prePublish" must be shorter/],
    ['defaultTtl > maxTtl', { tokens: { defaultTtl: '2h', maxTtl: '1h' } }, /"tokens.defaultTtl" must not exceed/],
    ['rotation too frequent for maxTtl (JWKS would outgrow verifiers)', { signing: { rotateEvery: '5s', prePublish: '2s' }, tokens: { defaultTtl: '5m', maxTtl: '10m' } }, /"signing.rotateEvery" is too short for "tokens.maxTtl": about 123 keys/],
    ['clients not an array', { clients: {} }, /"clients" must be an array/],
    ['client without hash', { clients: [{ clientId: 'a' }] }, /"clients\[0\].clientSecretHash"/],
    ['plaintext secret field', { clients: [{ clientId: 'a', clientSecretHash: 'scrypt$x', clientSecret: 'x' }] }, /unknown option "clients\[0\].clientSecret"/],
    ['bad client id', { clients: [{ clientId: 'a b', clientSecretHash: 'scrypt$x' }] }, /"clients\[0\].clientId"/],
    ['scope with a space', { clients: [{ clientId: 'a', clientSecretHash: 'scrypt$x', scopes: ['a b'] }] }, /"clients\[0\].scopes"/],
    ['duplicate client', { clients: [{ clientId: 'a', clientSecretHash: 'scrypt$x' }, { clientId: 'a', clientSecretHash: 'scrypt$y' }] }, /declares "a" twice/],
    ['rate limit zero', { rateLimit: { perAddress: 0 } }, /"rateLimit.perAddress" must be a positive integer/],
  ];
  test.each(bad)('%s', (_name, config, message) => {
    expect(() => resolveConfig(config as IssuerConfig)).toThrow(TypeError);
    expect(() => resolveConfig(config as IssuerConfig)).toThrow(message);
  });
});

describe('createIssuer (embedded)', () => {
  test('requires an issuer', async () => {
    await expect(createIssuer({})).rejects.toThrow(/"issuer" is required/);
  });

  test('serves from any node:http server; issueToken applies the grant rules', async () => {
    const svc = await makeClient('svc', ['a', 'b'], ['x-api', 'https://y.example/'], { tokenTtl: '2h' });
    const issuer = await createIssuer({ issuer: 'https://embedded.example', clients: [svc.config], tokens: { maxTtl: '1h' } });
    const server = await listen(issuer.handle);
    try {
      const res = await requestToken(server.url, svc, [['audience', 'x-api']]);
      expect(res.status).toBe(200);
      expect(res.body.expires_in).toBe(3600); // the client's 2 h is capped by maxTtl
      expect(claimsOf(res.body.access_token as string)).toMatchObject({ iss: 'https://embedded.example', aud: 'x-api', scope: 'a b' });

      const both = await issuer.issueToken('svc', { audiences: ['x-api', 'https://y.example/'], scopes: ['b'] });
      expect(claimsOf(both.access_token)).toMatchObject({ aud: ['x-api', 'https://y.example/'], scope: 'b' });
      await expect(issuer.issueToken('svc')).rejects.toMatchObject({ error: 'invalid_target' });
      await expect(issuer.issueToken('svc', { audiences: ['x-api'], scopes: ['c'] })).rejects.toMatchObject({ error: 'invalid_scope' });
      await expect(issuer.issueToken('nobody')).rejects.toThrow(/unknown client "nobody"/);
      expect(issuer.metadata().issuer).toBe('https://embedded.example');
    } finally {
      await server.close();
      await issuer.close();
    }
  });
});

describe('client secret hashes', () => {
  test('scrypt$ format, salted, verified in constant time; malformed or hostile hashes never verify', async () => {
    const a = await hashClientSecret('correct');
    const b = await hashClientSecret('correct');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyClientSecret('correct', a)).toBe(true);
    expect(await verifyClientSecret('wrong', a)).toBe(false);
    expect(await verifyClientSecret('correct', undefined)).toBe(false);
    expect(await verifyClientSecret('correct', 'scrypt$garbage')).toBe(false);
    // Cost parameters are bounded: a hash asking for 2^30 iterations or 1 GiB is refused, not computed.
    const [, , , , salt, hash] = a.split('$');
    const hostile = `scrypt$1073741824$8$1$${salt}$${hash}`;
    expect(isSecretHash(hostile)).toBe(false);
    const started = Date.now();
    expect(await verifyClientSecret('correct', hostile)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(hashClientSecret('')).rejects.toThrow(TypeError);
  });
});
