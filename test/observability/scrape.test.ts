/**
 * End to end: a real Express server guarded by @tokenguard/express, a real JWKS endpoint, a scripted mix of
 * N accepted requests, M rejections by known reasons and K scope denials; `/metrics` is scraped over HTTP
 * before and after, parsed, and the increments are asserted per label set. The scrape is then fed to
 * `promtool check metrics`, and every event and log line of the run is checked for tokens and key material.
 */
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { exportJWK } from 'jose';
import { metricsHandler, requireScopes, tokenGuard, type TokenGuardMiddleware } from '@tokenguard/express';
import type { AuditEvent } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../helpers/keys';
import { jsonServer, wrap, type TestServer } from '../helpers/http';
import { increments, parseProm, promtoolCheck, sample, samplesOf, type PromText } from '../helpers/prom';

const AUDIENCE = 'orders-api';
const N_ACCEPTED = 7;

let key: TestKey;
let rogue: TestKey;
let idp: TestServer & { hits: () => number };
let api: TestServer;
let guard: TokenGuardMiddleware;
let issuer: string;
const registry = new Registry();
const events: AuditEvent[] = [];
const logLines: string[] = [];
const tokensUsed: string[] = [];

async function scrape(): Promise<{ text: string; parsed: PromText; contentType: string | null }> {
  const res = await fetch(`${api.url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, parsed: parseProm(text), contentType: res.headers.get('content-type') };
}

async function call(method: string, path: string, token?: string): Promise<{ status: number; code?: string }> {
  if (token !== undefined) tokensUsed.push(token);
  const res = await fetch(`${api.url}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { code?: string };
  return { status: res.status, ...(body.code === undefined ? {} : { code: body.code }) };
}

beforeAll(async () => {
  key = await makeKey('ES256');
  rogue = await makeKey('ES256', key.kid); // same kid, attacker's key
  idp = await jsonServer(jwks(key));
  issuer = idp.url;
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  guard = tokenGuard({
    issuer, audience: AUDIENCE, jwksUri: `${idp.url}/jwks.json`, algorithms: ['ES256'],
    metrics: { registry }, logger: pino({ level: 'debug' }, sink), onEvent: (e) => events.push(e),
  });
  const app = express();
  app.get('/metrics', metricsHandler({ registry }));
  app.use(guard);
  app.get('/orders/:id', requireScopes('orders:read'), (req, res) => { res.json({ id: req.params.id }); });
  app.post('/orders', requireScopes('orders:write'), (_req, res) => { res.status(201).json({ ok: true }); });
  api = await wrap(createServer(app));
});

afterAll(async () => {
  await guard?.close();
  await api?.close();
  await idp?.close();
});

describe('scrape after a scripted mix of traffic', () => {
  let before: PromText;
  let after: PromText;
  let afterText: string;
  const accepted: string[] = [];

  beforeAll(async () => {
    before = (await scrape()).parsed;
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, aud: AUDIENCE, sub: 'svc-orders-reader', client_id: 'reader', scope: 'orders:read' };
    // N accepted: 4 distinct tokens (4 cache misses), then 3 of them again (3 cache hits).
    const fresh = await Promise.all([0, 1, 2, 3].map(() => signToken(key, claims)));
    for (const t of fresh) expect((await call('GET', '/orders/1', t)).status).toBe(200);
    for (const t of fresh.slice(0, 3)) expect((await call('GET', '/orders/2', t)).status).toBe(200);
    accepted.push(...fresh);

    // M rejections by known reasons.
    const rejections: [string, number, string | undefined][] = [
      ['token_expired', 401, await signToken(key, { ...claims, iat: now - 600, exp: now - 300 })],
      ['token_expired', 401, await signToken(key, { ...claims, iat: now - 900, exp: now - 600 })],
      ['signature_invalid', 401, await signToken(rogue, claims)],
      ['audience_invalid', 401, await signToken(key, { ...claims, aud: 'billing-api' })],
      ['issuer_invalid', 401, await signToken(key, { ...claims, iss: 'https://evil.example.com/' })],
      ['token_malformed', 401, 'not-a-jwt'],
      ['token_missing', 401, undefined],
    ];
    for (const [code, status, token] of rejections) expect(await call('GET', '/orders/3', token)).toEqual({ status, code });

    // K scope denials: two on POST /orders (read-only token), one on GET /orders/:id (no scope at all).
    const noScope = await signToken(key, { ...claims, sub: 'svc-noscope', client_id: 'noscope', scope: undefined });
    expect(await call('POST', '/orders', fresh[0])).toEqual({ status: 403, code: 'insufficient_scope' });
    expect(await call('POST', '/orders', fresh[1])).toEqual({ status: 403, code: 'insufficient_scope' });
    expect(await call('GET', '/orders/4', noScope)).toEqual({ status: 403, code: 'insufficient_scope' });
    accepted.push(noScope);

    const s = await scrape();
    after = s.parsed;
    afterText = s.text;
  });

  it('counts every validation once per label set', () => {
    expect(increments(before, after, 'tokenguard_validations_total')).toEqual({
      // N accepted + K whose token was accepted before the scope check denied them.
      [`issuer=${issuer},outcome=accepted`]: N_ACCEPTED + 3,
      // Expired, forged and wrong-audience tokens name the configured issuer (a bounded value); the unknown
      // issuer, the malformed and the missing token cannot be tied to one and count as "unknown".
      [`issuer=${issuer},outcome=rejected`]: 4,
      'issuer=unknown,outcome=rejected': 3,
    });
    for (const s of samplesOf(after, 'tokenguard_validations_total')) expect([issuer, 'unknown']).toContain(s.labels.issuer);
  });

  it('counts rejections by reason exactly', () => {
    expect(increments(before, after, 'tokenguard_rejections_total')).toEqual({
      'reason=token_expired': 2,
      'reason=signature_invalid': 1,
      'reason=audience_invalid': 1,
      'reason=issuer_invalid': 1,
      'reason=token_malformed': 1,
      'reason=token_missing': 1,
      // the 3 scope denials: a 403 is a rejection by reason too (the token itself counted as accepted)
      'reason=insufficient_scope': 3,
    });
  });

  it('counts scope denials by route template', () => {
    expect(increments(before, after, 'tokenguard_scope_denials_total')).toEqual({ 'route=/orders': 2, 'route=/orders/:id': 1 });
  });

  it('tells cache hits from misses and observes every request once', () => {
    const hits = increments(before, after, 'tokenguard_verify_duration_seconds_count');
    // 3 repeats of cached tokens + the 2 POSTs whose tokens were cached by then.
    expect(hits['cache=hit']).toBe(5);
    expect((hits['cache=hit'] ?? 0) + (hits['cache=miss'] ?? 0)).toBe(N_ACCEPTED + 3 + 7);
    expect(increments(before, after, 'tokenguard_token_remaining_lifetime_seconds_count')).toEqual({ [`issuer=${issuer}`]: N_ACCEPTED + 3 });
  });

  it('reports the key set: one good fetch, its key count, its age, and the cache size', () => {
    expect(increments(before, after, 'tokenguard_jwks_fetches_total')).toEqual({ [`issuer=${issuer},outcome=ok`]: idp.hits() });
    expect(idp.hits()).toBe(1);
    expect(sample(after, 'tokenguard_jwks_keys', { issuer })).toBe(1);
    const age = sample(after, 'tokenguard_jwks_age_seconds', { issuer });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
    expect(sample(after, 'tokenguard_cache_entries')).toBe(new Set(accepted).size);
  });

  it('emits one audit event per validation and scope denial', () => {
    const byType = (t: string) => events.filter((e) => e.type === t);
    expect(byType('token.accepted')).toHaveLength(N_ACCEPTED + 3);
    expect(byType('token.rejected').map((e) => e.code).sort()).toEqual(
      ['audience_invalid', 'issuer_invalid', 'signature_invalid', 'token_expired', 'token_expired', 'token_malformed', 'token_missing'],
    );
    expect(byType('scope.denied').map((e) => e.route).sort()).toEqual(['/orders', '/orders', '/orders/:id']);
    expect(byType('jwks.refreshed')).toHaveLength(1);
    expect(byType('jwks.refreshed')[0]).toMatchObject({ issuer, keys: 1 });
    expect(byType('key.added')).toEqual([expect.objectContaining({ issuer, kid: key.kid })]);
    const denial = byType('scope.denied').find((e) => e.route === '/orders/:id')!;
    expect(denial).toMatchObject({ issuer, subject: 'svc-noscope', clientId: 'noscope', kid: key.kid });
    expect(typeof denial.fingerprint).toBe('string');
    expect(typeof denial.jti).toBe('string');
  });

  it('never puts a token, subject, jti or client id in the exposition', () => {
    for (const e of events) {
      for (const v of [e.subject, e.jti, e.clientId, e.fingerprint]) if (typeof v === 'string') expect(afterText).not.toContain(v);
    }
    for (const t of tokensUsed) expect(afterText).not.toContain(t.split('.')[1] ?? t);
    expect(afterText).not.toContain('evil.example.com');
  });

  it('never writes a token or key material to a log line or event', async () => {
    const privateJwk = await exportJWK(key.privateKey);
    const rogueJwk = await exportJWK(rogue.privateKey);
    const everything = [...logLines, ...events.map((e) => JSON.stringify(e))];
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of everything) {
      for (const t of tokensUsed) {
        expect(line).not.toContain(t);
        for (const part of t.split('.')) if (part.length >= 16) expect(line).not.toContain(part);
      }
      expect(line).not.toContain(privateJwk.d!);
      expect(line).not.toContain(rogueJwk.d!);
    }
  });

  it('passes promtool check metrics', async () => {
    const { text, contentType } = await scrape();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { code, output } = await promtoolCheck(text);
    expect(output).toBe('');
    expect(code).toBe(0);
  });
});
