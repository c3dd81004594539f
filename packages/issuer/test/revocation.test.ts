/**
 * (3) Revocation (RFC 7009) and introspection (RFC 7662): a revoked token is inactive at introspection and
 * rejected with `token_revoked` by a core verifier wired to `server.revocations`.
 */
import { createTokenVerifier, type TokenVerifier } from '@tokenguard/core';
import { createIssuerServer, type IssuerEvent, type IssuerServer } from '@tokenguard/issuer';
import { makeKey, signToken } from '../../../test/helpers/keys';
import { parseProm, sample } from '../../../test/helpers/prom';
import { basic, claimsOf, form, makeClient, post, requestToken, type TestClient } from './support';

describe('revocation and introspection', () => {
  let server: IssuerServer;
  let svc: TestClient;
  let other: TestClient;
  let shortLived: TestClient;
  let verifier: TokenVerifier;
  const events: IssuerEvent[] = [];

  beforeAll(async () => {
    svc = await makeClient('svc', ['read'], ['api']);
    other = await makeClient('other', ['read'], ['api']);
    shortLived = await makeClient('short', ['read'], ['api'], { tokenTtl: 2 });
    server = await createIssuerServer({ listen: { port: 0 }, clients: [svc.config, other.config, shortLived.config], onEvent: (e) => events.push(e) });
    verifier = createTokenVerifier({ issuer: server.issuer, audience: 'api', metrics: false, revocation: server.revocations });
  });
  afterAll(async () => {
    await verifier.close();
    await server.close();
  });

  const introspect = (caller: TestClient, token: string) => post(`${server.url}/oauth/introspect`, form([['token', token]]), { authorization: basic(caller.id, caller.secret) });
  const revoke = (caller: TestClient, token: string, extra: [string, string][] = []) =>
    post(`${server.url}/oauth/revoke`, form([['token', token], ...extra]), { authorization: basic(caller.id, caller.secret) });

  test('active token, then revoked: inactive at introspection and token_revoked at the verifier', async () => {
    const token = (await requestToken(server.url, svc)).body.access_token as string;
    await expect(verifier.verify(token)).resolves.toMatchObject({ clientId: 'svc' });

    const active = await introspect(other, token);
    expect(active.status).toBe(200);
    expect(active.headers.get('cache-control')).toBe('no-store');
    expect(active.body).toMatchObject({ active: true, client_id: 'svc', sub: 'svc', aud: 'api', scope: 'read', iss: server.issuer, jti: claimsOf(token).jti });

    const revoked = await revoke(svc, token, [['token_type_hint', 'access_token']]);
    expect(revoked.status).toBe(200);
    expect(await introspect(other, token)).toMatchObject({ status: 200, body: { active: false } });
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'token_revoked', status: 401 });
    expect(await server.revocations.isRevoked(claimsOf(token).jti as string)).toBe(true);

    const event = events.find((e) => e.type === 'token.revoked')!;
    expect(event).toMatchObject({ clientId: 'svc', jti: claimsOf(token).jti });
    expect(JSON.stringify(event)).not.toContain(token);
    const metrics = parseProm(await (await fetch(`${server.url}/metrics`)).text());
    expect(sample(metrics, 'tokenguard_issuer_revocations_total', { outcome: 'revoked' })).toBe(1);
  });

  test('unknown, garbage and foreign tokens: revocation answers 200, introspection active:false', async () => {
    const foreignKey = await makeKey('ES256');
    const foreign = await signToken(foreignKey, { iss: server.issuer, sub: 'svc', aud: 'api', client_id: 'svc' });
    for (const token of ['not-a-token', 'a.b.c', foreign, 'x'.repeat(20_000)]) {
      expect((await revoke(svc, token)).status).toBe(200);
      expect(await introspect(svc, token)).toMatchObject({ status: 200, body: { active: false } });
    }
  });

  test('expired tokens are inactive (regression: a 1 s token issued late in a second could expire before its first introspection)', async () => {
    // iat is whole seconds, so a token of tokenTtl 2 lives between 1 and 2 s: always long enough for the first check.
    const token = (await requestToken(server.url, shortLived)).body.access_token as string;
    expect((await introspect(svc, token)).body.active).toBe(true);
    const exp = claimsOf(token).exp as number;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 100));
    expect((await introspect(svc, token)).body).toEqual({ active: false });
  });

  test('a client cannot revoke another client\'s token', async () => {
    const token = (await requestToken(server.url, svc)).body.access_token as string;
    const res = await revoke(other, token);
    expect(res).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect((await introspect(svc, token)).body.active).toBe(true);
  });

  test('callers must authenticate as a registered client', async () => {
    const token = (await requestToken(server.url, svc)).body.access_token as string;
    for (const path of ['/oauth/introspect', '/oauth/revoke']) {
      const none = await post(`${server.url}${path}`, form([['token', token]]));
      expect(none).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      const wrong = await post(`${server.url}${path}`, form([['token', token]]), { authorization: basic('svc', 'wrong') });
      expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      const viaPost = await post(`${server.url}${path}`, form([['token', token], ['client_id', 'svc'], ['client_secret', svc.secret]]));
      expect(viaPost.status).toBe(200);
      const missing = await post(`${server.url}${path}`, form([]), { authorization: basic(svc.id, svc.secret) });
      expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    }
  });
});
