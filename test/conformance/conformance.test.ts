/**
 * One table (cases.ts), three frameworks: every case is sent as the same raw bytes to real Express (on node's
 * plain server and on @tokenguard/express's createServer(app)), Koa and Fastify servers on 127.0.0.1:0. Each
 * answer must match the expected values, and the answers must agree on status, the relevant headers and the body.
 * Keys are served by a real JWKS endpoint; the second issuer's key-set server is a closed port. Every audit event
 * and log line of the run is captured and checked for leaks of any token or secret used.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, SignJWT } from 'jose';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ERROR_CODES, ERROR_TABLE, type AuditEvent, type RevocationStore, type TokenErrorCode, type VerifierOptions } from '@tokenguard/core';
import { makeKey, jwks, rawToken, signToken, type TestKey } from '../helpers/keys';
import { jsonServer } from '../helpers/http';
import { rawRequest, type RawResponse } from '../helpers/raw-http';
import { CASES, type ConformanceCase, type Fixtures } from './cases';
import { startExpress, startFastify, startKoa, type AppUnderTest } from './apps';

const ISSUER = 'https://idp.conformance.test/';
const DOWN_ISSUER = 'https://down.conformance.test/';
const AUDIENCE = 'orders-api';
const HS_SECRET = 'conformance-hs-secret-0123456789abcdef';
/** Headers all three frameworks must send identically. */
const COMPARED_HEADERS = ['www-authenticate', 'retry-after', 'content-type', 'cache-control'];

let apps: AppUnderTest[] = [];
let closers: Array<() => Promise<void>> = [];
let fixtures: Fixtures;
let registry: Registry;
const events: AuditEvent[] = [];
const logLines: string[] = [];
/** Strings that must never appear in a log line or event: every token and every secret. */
const secrets = new Set<string>();
/** Codes the table reached over HTTP, checked at the end. */
const reached = new Set<TokenErrorCode>();

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function mintFixtures(main: TestKey, second: TestKey, attacker: TestKey, unpublished: TestKey, downKey: TestKey): Promise<Fixtures> {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'svc-a', client_id: 'client-a', tenant: 'acme', scope: 'orders:read' };
  const hs256 = await new SignJWT({ ...claims, exp: now + 300 }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(new TextEncoder().encode(HS_SECRET));
  return {
    valid: await signToken(main, claims),
    readWrite: await signToken(second, { ...claims, scope: 'orders:read orders:write' }),
    admin: await signToken(main, { ...claims, scope: 'orders:admin' }),
    noScope: await signToken(main, { ...claims, scope: undefined }),
    scpArray: await signToken(main, { ...claims, scope: undefined, scp: ['orders:read'] }),
    commaScope: await signToken(main, { ...claims, scope: 'orders:read,orders:write' }),
    expired: await signToken(main, { ...claims, iat: now - 600, exp: now - 60 }),
    notYetValid: await signToken(main, { ...claims, nbf: now + 600 }),
    tooOld: await signToken(main, { ...claims, iat: now - 7200, exp: now + 300 }),
    unknownIssuer: await signToken(main, { ...claims, iss: 'https://evil.conformance.test/' }),
    wrongAudience: await signToken(main, { ...claims, aud: 'billing-api' }),
    wrongTenant: await signToken(main, { ...claims, tenant: 'evil' }),
    noExp: await signToken(main, { ...claims, exp: undefined }),
    revoked: await signToken(main, { ...claims, jti: 'jti-revoked' }),
    storeDown: await signToken(main, { ...claims, jti: 'jti-store-down' }),
    badSignature: await signToken({ ...attacker, kid: main.kid }, claims),
    unknownKid: await signToken(unpublished, claims),
    keysDown: await signToken(downKey, { ...claims, iss: DOWN_ISSUER }),
    hs256,
    kidInjection: await signToken({ ...unpublished, kid: '../../dev/null' }, claims),
    embeddedJwk: await signToken({ ...attacker, kid: main.kid }, claims, { header: { jwk: attacker.jwk } }),
    stringExp: await signToken(main, { ...claims, exp: String(now + 300) as unknown as number }),
    nbspScope: await signToken(main, { ...claims, scope: 'orders:read\u00a0orders:write' }),
    algNone: rawToken({ alg: 'none', typ: 'at+jwt' }, { ...claims, exp: now + 300 }),
    algNoneUnsigned: rawToken({ alg: 'nOnE', typ: 'at+jwt' }, { ...claims, exp: now + 300 }, ''),
    jwe: `${Buffer.from(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' })).toString('base64url')}.a2V5.aXY.Y2lwaGVy.dGFn`,
  };
}

beforeAll(async () => {
  const [main, second, attacker, unpublished, downKey] = await Promise.all([
    makeKey('RS256'), makeKey('ES256'), makeKey('RS256'), makeKey('RS256'), makeKey('ES256'),
  ]);
  const keySet = await jsonServer(jwks(main, second));
  closers.push(() => keySet.close());
  fixtures = await mintFixtures(main, second, attacker, unpublished, downKey);
  for (const token of Object.values(fixtures)) secrets.add(token);
  secrets.add(HS_SECRET);
  for (const key of [main, second, attacker, unpublished, downKey]) {
    const { d } = await exportJWK(key.privateKey);
    if (d !== undefined) secrets.add(d);
  }

  const revoked = new Set(['jti-revoked']);
  const revocation: RevocationStore = {
    failMode: 'closed',
    revoke: async (jti) => { revoked.add(jti); },
    isRevoked: async (jti) => {
      if (jti === 'jti-store-down') throw new Error('revocation store unreachable');
      return revoked.has(jti);
    },
  };
  const memory = new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString('utf8')); done(); } });
  registry = new Registry();
  const base: VerifierOptions = {
    issuer: [
      { issuer: ISSUER, jwksUri: `${keySet.url}/jwks.json` },
      { issuer: DOWN_ISSUER, jwksUri: `http://127.0.0.1:${await closedPort()}/jwks.json` },
    ],
    audience: AUDIENCE,
    maxTokenAge: '1h',
    claims: { tenant: 'acme' },
    revocation,
    jwks: { timeout: '2s' },
    metrics: { registry },
    logger: pino({ level: 'debug' }, memory),
    onEvent: (event) => { events.push(event); },
  };
  // Express twice: on node's plain server (what app.listen() builds) and on @tokenguard/express's createServer(app).
  apps = [await startExpress(base, registry), await startExpress(base, registry, true), await startKoa(base, registry), await startFastify(base, registry)];
});

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const close of closers) await close();
  apps = [];
  closers = [];
});

function parseBody(res: RawResponse): unknown {
  return /json/.test(res.headers['content-type'] ?? '') ? JSON.parse(res.body) : res.body;
}

function checkExpected(c: ConformanceCase, res: RawResponse, token: string[]): void {
  const { expect: want } = c;
  expect(res.status).toBe(want.status);
  if (want.body !== undefined) expect(parseBody(res)).toEqual(want.body);
  if (want.code !== undefined) {
    reached.add(want.code);
    const entry = ERROR_TABLE[want.code];
    const body = parseBody(res) as Record<string, unknown>;
    expect(body.code).toBe(want.code);
    expect(body.error).toBe(entry.error);
    expect(typeof body.error_description).toBe('string');
    if (want.description !== undefined) expect(String(body.error_description).toLowerCase()).toContain(want.description.toLowerCase());
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    if (entry.status === 503) {
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    } else {
      expect(res.headers['retry-after']).toBeUndefined();
      const challenge = res.headers['www-authenticate'];
      expect(challenge).toMatch(/^Bearer realm="api"/);
      if (entry.error !== undefined) expect(challenge).toContain(`error="${entry.error}"`);
      if (want.challenge !== undefined) expect(challenge).toEqual(want.challenge instanceof RegExp ? expect.stringMatching(want.challenge) : want.challenge);
    }
  }
  // An answer never echoes a token it was sent.
  for (const t of token) if (t.length > 16) expect(`${JSON.stringify(res.headers)}${res.body}`).not.toContain(t);
}

function tokensIn(c: ConformanceCase): string[] {
  const req = c.request(fixtures);
  return Object.values(fixtures).filter((t) => req.path.includes(t) || (req.body ?? '').includes(t) || (req.headers ?? []).some(([, v]) => v.includes(t)));
}

describe('conformance: one table, three frameworks', () => {
  it('has at least 40 cases with unique names', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const request = c.request(fixtures);
    const answers: RawResponse[] = [];
    for (const app of apps) answers.push(await rawRequest(app.url, request));
    const sent = tokensIn(c);
    answers.forEach((res, i) => {
      try {
        checkExpected(c, res, sent);
      } catch (err) {
        throw new Error(`${apps[i]!.name}: ${(err as Error).message}`, { cause: err });
      }
    });
    const [first, ...others] = answers;
    const pick = (res: RawResponse) => ({
      status: res.status,
      ...(c.expect.compareHeaders === false ? {} : { headers: Object.fromEntries(COMPARED_HEADERS.map((h) => [h, res.headers[h]])) }),
      ...(c.expect.compareBody === false ? {} : { body: res.body }),
    });
    others.forEach((res, i) => {
      expect({ app: apps[i + 1]!.name, ...pick(res) }).toEqual({ app: apps[i + 1]!.name, ...pick(first!) });
    });
  });

  it('reaches every error code over HTTP except the planned dpop_invalid', () => {
    expect([...reached].sort()).toEqual(ERROR_CODES.filter((c) => c !== 'dpop_invalid').sort());
  });

  it('serves the shared registry, which counted the run by reason', async () => {
    const res = await rawRequest(apps[0]!.url, { path: '/metrics' });
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    // Each framework answered "expired" twice (/me and /optional): at least 6 on the shared registry.
    const line = res.body.split('\n').find((l) => l.startsWith('tokenguard_rejections_total{') && l.includes('reason="token_expired"'));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ').pop())).toBeGreaterThanOrEqual(6);
  });

  it('no audit event or log line of the whole run contains a token or a secret', () => {
    expect(events.length).toBeGreaterThan(CASES.length);
    expect(logLines.length).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'token.rejected' && e.code === 'token_expired')).toBe(true);
    expect(events.some((e) => e.type === 'scope.denied')).toBe(true);
    const haystacks = [...events.map((e) => JSON.stringify(e)), ...logLines];
    const leaks: string[] = [];
    for (const secret of secrets) {
      // The signature segment alone is as unique as the token; look for it too.
      const needles = [secret, secret.split('.')[2] ?? ''].filter((n) => n.length >= 16);
      for (const needle of needles) if (haystacks.some((h) => h.includes(needle))) leaks.push(`${needle.slice(0, 8)}…`);
    }
    expect(leaks).toEqual([]);
  });
});
