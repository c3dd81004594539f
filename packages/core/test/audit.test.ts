import { Writable } from 'node:stream';
import pino from 'pino';
import { createTelemetry, type AuditEvent, type Logger } from '@tokenguard/core';

const A = 'https://idp-a.example.com/';
const TOKEN = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzdmMtMSIsImV4cCI6OTk5OTk5OTk5OX0.AAAAsignatureBBBB';

interface Call { level: string; obj: Record<string, unknown>; msg: string | undefined }

function recordingLogger(withDebug = true): Logger & { calls: Call[] } {
  const calls: Call[] = [];
  const at = (level: string) => (obj: object, msg?: string) => { calls.push({ level, obj: obj as Record<string, unknown>, msg }); };
  return { calls, info: at('info'), warn: at('warn'), error: at('error'), ...(withDebug ? { debug: at('debug') } : {}) };
}

const fields = { issuer: A, subject: 'svc-1', clientId: 'client-1', jti: 'jti-1', kid: 'k1', fingerprint: 'fp-1234' };

describe('audit events', () => {
  it('delivers every event type to onEvent with type, time and the given fields', () => {
    const events: AuditEvent[] = [];
    const t = createTelemetry({ issuers: [A], metrics: false, onEvent: (e) => events.push(e) });
    expect(t.auditing).toBe(true);
    t.accepted({ issuer: A, cache: 'miss', seconds: 0.001, remainingSeconds: 100, event: fields });
    t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.001, event: fields });
    t.scopeDenied({ route: '/orders/:id', event: { ...fields, required: ['orders:write'] } });
    t.jwksFetch({ issuer: A, outcome: 'ok', keys: 2 }); // metrics only: the key source sends the event
    t.event({ type: 'jwks.refreshed', issuer: A, outcome: 'ok', keys: 2 });
    t.event({ type: 'jwks.failed', issuer: A, outcome: 'stale', keys: 2, message: 'HTTP 503' });
    t.event({ type: 'key.added', issuer: A, kid: 'k2' });
    t.event({ type: 'key.removed', issuer: A, kid: 'k0' });
    t.event({ type: 'anomaly', kind: 'forgery_attempt', count: 11, clientId: 'client-1' });
    expect(events.map((e) => e.type)).toEqual([
      'token.accepted', 'token.rejected', 'scope.denied', 'jwks.refreshed', 'jwks.failed', 'key.added', 'key.removed', 'anomaly',
    ]);
    for (const e of events) expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(events[1]).toMatchObject({ ...fields, code: 'token_expired' });
    expect(events[2]).toMatchObject({ ...fields, route: '/orders/:id', required: ['orders:write'] });
    expect(events[3]).toMatchObject({ issuer: A, outcome: 'ok', keys: 2 });
    expect(events[4]).toMatchObject({ issuer: A, outcome: 'stale', keys: 2, message: 'HTTP 503' });
    expect(events[7]).toMatchObject({ kind: 'forgery_attempt', count: 11 });
  });

  it('logs at sensible levels: accepted at debug only, rejections info, failures and anomalies warn', () => {
    const logger = recordingLogger();
    const t = createTelemetry({ issuers: [A], metrics: false, logger });
    t.accepted({ issuer: A, cache: 'hit', seconds: 0.00001, remainingSeconds: 100, event: fields });
    t.rejected({ issuer: A, code: 'token_revoked', cache: 'miss', seconds: 0.001, event: fields });
    t.scopeDenied({ route: '/x', event: fields });
    t.event({ type: 'jwks.refreshed', issuer: A, keys: 1 });
    t.event({ type: 'jwks.failed', issuer: A, outcome: 'error', keys: 0, message: 'timeout' });
    t.event({ type: 'key.added', issuer: A, kid: 'k2' });
    t.event({ type: 'anomaly', kind: 'token_shared' });
    expect(logger.calls.map((c) => [c.level, c.obj.type, c.msg])).toEqual([
      ['debug', 'token.accepted', 'token accepted'],
      ['info', 'token.rejected', 'token rejected: token_revoked'],
      ['info', 'scope.denied', 'scope denied'],
      ['info', 'jwks.refreshed', 'key set refreshed'],
      ['warn', 'jwks.failed', 'key set fetch failed'],
      ['info', 'key.added', 'key added'],
      ['warn', 'anomaly', 'usage anomaly'],
    ]);
    // pino adds its own `time`; the logged object must not carry a second one.
    for (const c of logger.calls) expect(c.obj).not.toHaveProperty('time');
  });

  it('skips accepted events on a logger without debug', () => {
    const logger = recordingLogger(false);
    const t = createTelemetry({ issuers: [A], metrics: false, logger });
    t.accepted({ issuer: A, cache: 'hit', seconds: 0.00001, remainingSeconds: 100, event: fields });
    expect(logger.calls).toEqual([]);
  });

  it('never carries a token, secret or JWT-shaped string', () => {
    const events: AuditEvent[] = [];
    const logger = recordingLogger();
    const t = createTelemetry({ issuers: [A], metrics: false, logger, onEvent: (e) => events.push(e) });
    t.rejected({
      issuer: A, code: 'signature_invalid', cache: 'miss', seconds: 0.001,
      event: { ...fields, token: TOKEN, access_token: TOKEN, authorization: `Bearer ${TOKEN}`, client_secret: 's3cr3t', message: `could not verify ${TOKEN}` },
    });
    t.event({ type: 'anomaly', kind: 'token_shared', evidence: `seen ${TOKEN} from 6 addresses`, secret: 's3cr3t' });
    const all = JSON.stringify(events) + JSON.stringify(logger.calls);
    expect(all).not.toContain(TOKEN.split('.')[1]);
    expect(all).not.toContain('s3cr3t');
    expect(events[0]!.message).toBe('could not verify [redacted]');
    expect(events[0]).not.toHaveProperty('token');
    expect(events[1]!.evidence).toBe('seen [redacted] from 6 addresses');
  });

  it('cuts very long strings', () => {
    const events: AuditEvent[] = [];
    const t = createTelemetry({ issuers: [A], metrics: false, onEvent: (e) => events.push(e) });
    t.rejected({ issuer: undefined, code: 'token_malformed', cache: 'miss', seconds: 0, event: { kid: 'k'.repeat(10_000) } });
    expect((events[0]!.kid as string).length).toBe(512);
  });
});

describe('a failing onEvent or logger never breaks verification', () => {
  it('swallows a throwing onEvent, keeps logging, and reports it once', () => {
    const logger = recordingLogger();
    let calls = 0;
    const t = createTelemetry({ issuers: [A], metrics: false, logger, onEvent: () => { calls++; throw new Error(`boom ${TOKEN}`); } });
    for (let i = 0; i < 3; i++) {
      expect(() => t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.001, event: fields })).not.toThrow();
    }
    expect(calls).toBe(3);
    const failures = logger.calls.filter((c) => c.obj.type === 'audit.handler_failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.level).toBe('warn');
    expect(JSON.stringify(failures)).not.toContain(TOKEN);
    expect(logger.calls.filter((c) => c.obj.type === 'token.rejected')).toHaveLength(3);
  });

  it('swallows an async onEvent that rejects (no unhandled rejection)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = createTelemetry({ issuers: [A], metrics: false, onEvent: async () => { throw new Error('async boom'); } });
      t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.001, event: fields });
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('swallows a throwing logger and still calls onEvent', () => {
    const events: AuditEvent[] = [];
    const boom = () => { throw new Error('logger down'); };
    const logger: Logger = { debug: boom, info: boom, warn: boom, error: boom };
    const t = createTelemetry({ issuers: [A], metrics: false, logger, onEvent: (e) => { events.push(e); throw new Error('and me'); } });
    expect(() => t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.001, event: fields })).not.toThrow();
    expect(() => t.event({ type: 'anomaly', kind: 'rejection_burst' })).not.toThrow();
    expect(() => t.warnOnce('x', {}, 'y')).not.toThrow();
    expect(events).toHaveLength(2);
  });

  it('warnOnce logs once per key', () => {
    const logger = recordingLogger();
    const t = createTelemetry({ issuers: [A], metrics: false, logger });
    t.warnOnce('http:a', { url: 'http://idp.internal/' }, 'non-loopback http issuer');
    t.warnOnce('http:a', { url: 'http://idp.internal/' }, 'non-loopback http issuer');
    t.warnOnce('http:b', { url: 'http://idp2.internal/' }, 'non-loopback http issuer');
    expect(logger.calls.map((c) => [c.level, c.obj.url])).toEqual([['warn', 'http://idp.internal/'], ['warn', 'http://idp2.internal/']]);
  });

  it('rejects a bad logger or onEvent with a TypeError', () => {
    expect(() => createTelemetry({ issuers: [A], logger: {} as Logger })).toThrow(/"logger"/);
    expect(() => createTelemetry({ issuers: [A], onEvent: 'x' as never })).toThrow(/"onEvent"/);
  });
});

describe('with a real pino logger', () => {
  it('builds no accepted event for a pino logger above debug level', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const logger = pino({ level: 'info' }, sink);
    let reads = 0;
    const counting = { ...fields, get subject() { reads++; return 'svc-1'; } };
    const t = createTelemetry({ issuers: [A], metrics: false, logger });
    t.accepted({ issuer: A, cache: 'hit', seconds: 0.00001, remainingSeconds: 100, event: counting });
    expect(reads).toBe(0);
    expect(lines).toHaveLength(0);
    logger.level = 'debug';
    t.accepted({ issuer: A, cache: 'hit', seconds: 0.00001, remainingSeconds: 100, event: counting });
    expect(reads).toBe(1);
    expect(lines).toHaveLength(1);
  });

  it('writes one JSON line per event with a single time field and no token', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
    const logger = pino({ level: 'debug' }, sink);
    const t = createTelemetry({ issuers: [A], metrics: false, logger });
    t.accepted({ issuer: A, cache: 'miss', seconds: 0.001, remainingSeconds: 100, event: { ...fields, token: TOKEN } });
    t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.001, event: { ...fields, message: TOKEN } });
    t.event({ type: 'jwks.failed', issuer: A, outcome: 'error', keys: 0, message: 'HTTP 500' });
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.match(/"time":/g)).toHaveLength(1);
      expect(line).not.toContain(TOKEN.split('.')[0]);
    }
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.level, p.type, p.msg])).toEqual([
      [20, 'token.accepted', 'token accepted'],
      [30, 'token.rejected', 'token rejected: token_expired'],
      [40, 'jwks.failed', 'key set fetch failed'],
    ]);
    expect(parsed[1]).toMatchObject({ subject: 'svc-1', jti: 'jti-1', kid: 'k1', fingerprint: 'fp-1234', code: 'token_expired' });
  });
});
