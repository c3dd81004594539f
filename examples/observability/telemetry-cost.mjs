// Hand-run microbenchmark: CPU cost of tokenguard's telemetry per cache-hit acceptance, the hot path.
// Measures createTelemetry().accepted() alone (metrics + events + logging), then a whole verify() cache hit
// with metrics off and on, for scale.
//   pnpm exec tsc -b && node examples/observability/telemetry-cost.mjs
// CPU time from process.cpuUsage over N iterations after a warm-up; run it on an idle machine.
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import pino from 'pino';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { createTelemetry, createTokenVerifier } from '../../packages/core/dist/index.js';

const N = Number(process.env.N ?? 300_000);
const ISSUER = 'https://idp.example.com/';
const fields = { issuer: ISSUER, subject: 'svc-orders', clientId: 'orders-client', jti: 'b7f3c2a9-1d4e-4c6f-9a0b-2e8d7f6a5c41', kid: 'key-2026-11', fingerprint: 'Zx3k9QpL2mN8' };
const devNull = () => new Writable({ write(_c, _e, done) { done(); } });
let sunk = 0;

const setups = {
  'metrics only (no logger, no onEvent)': () => createTelemetry({ issuers: [ISSUER], metrics: { registry: new Registry() } }),
  'metrics + pino at info (accepted is debug: skipped)': () =>
    createTelemetry({ issuers: [ISSUER], metrics: { registry: new Registry() }, logger: pino({ level: 'info' }, devNull()) }),
  'metrics + onEvent (no-op handler)': () =>
    createTelemetry({ issuers: [ISSUER], metrics: { registry: new Registry() }, onEvent: () => { sunk++; } }),
  'metrics + pino at debug (one JSON line per acceptance)': () =>
    createTelemetry({ issuers: [ISSUER], metrics: { registry: new Registry() }, logger: pino({ level: 'debug' }, devNull()) }),
  'no metrics, no events (noop)': () => createTelemetry({ issuers: [ISSUER], metrics: false }),
};

for (const [name, make] of Object.entries(setups)) {
  const t = make();
  const e = { issuer: ISSUER, cache: 'hit', seconds: 0.000002, remainingSeconds: 240, event: fields };
  for (let i = 0; i < 50_000; i++) t.accepted(e);
  const start = process.cpuUsage();
  for (let i = 0; i < N; i++) t.accepted(e);
  const used = process.cpuUsage(start);
  console.log(`${name.padEnd(56)} ${(((used.user + used.system) / N) * 1000).toFixed(0).padStart(6)} ns/call`);
}

// The whole verifier on a cache hit, for scale.
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
const token = await new SignJWT({ scope: 'orders:read', client_id: 'c' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' })
  .setIssuer(ISSUER).setAudience('api').setSubject('s').setIssuedAt().setExpirationTime('10m').setJti('j1').sign(privateKey);
for (const [name, metrics] of [['verify() cache hit, metrics: false', false], ['verify() cache hit, metrics on', { registry: new Registry() }]]) {
  const v = createTokenVerifier({ issuer: ISSUER, audience: 'api', keys: { keys: [jwk] }, algorithms: ['ES256'], metrics });
  for (let i = 0; i < 20_000; i++) await v.verify(token);
  const n = Math.min(N, 200_000);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await v.verify(token);
  const used = process.cpuUsage(start);
  console.log(`${name.padEnd(56)} ${(((used.user + used.system) / n) * 1000).toFixed(0).padStart(6)} ns/call`);
  await v.close();
}
