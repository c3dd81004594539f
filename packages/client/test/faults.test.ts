import { TokenUnavailableError, type TokenEvent } from '@tokenguard/client';
import { decodeJwt } from 'jose';
import { Registry } from 'prom-client';
import { listen } from '../../../test/helpers/http';
import { delay, useFaultServer } from './fault-server';
import { parseProm, promtoolCheck, sample } from '../../../test/helpers/prom';

const { ep: server, make } = useFaultServer();
let ep: ReturnType<typeof server>;
beforeAll(() => {
  ep = server();
});

describe('transient faults are retried with backoff', () => {
  it.each([
    ['a response slower than the timeout', { kind: 'slow', ms: 1500 }],
    ['a 500', { kind: 'status', status: 500, body: { error: 'server_error' } }],
    ['a 503 with temporarily_unavailable', { kind: 'status', status: 503, body: { error: 'temporarily_unavailable' } }],
    ['a connection reset', { kind: 'reset' }],
    ['garbage JSON', { kind: 'garbage', body: '{"access_token": "abc' }],
    ['JSON without access_token', { kind: 'garbage', body: '{"token_type":"Bearer"}' }],
    ['a token that expires on arrival', { kind: 'ok', ttl: -10 }],
  ] as const)('%s, then success', async (_name, fault) => {
    ep.queue(fault as never);
    const registry = new Registry();
    const tokens = make({ metrics: { registry } });
    const token = await tokens.getToken();
    expect(ep.requests).toHaveLength(2);
    expect(ep.issued).toContain(token);
    expect(decodeJwt(token).exp! * 1000).toBeGreaterThan(Date.now());
    const text = await registry.metrics();
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'retry' })).toBe(1);
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'ok' })).toBe(1);
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'error' })).toBe(0);
  });

  it.each([
    ['slow', { kind: 'slow', ms: 1500 }, 'timeout', undefined],
    ['drip (headers at once, then a byte every 50 ms)', { kind: 'drip', everyMs: 50 }, 'timeout', undefined],
    ['500', { kind: 'status', status: 500 }, 'endpoint_unavailable', 500],
    ['reset', { kind: 'reset' }, 'endpoint_unavailable', undefined],
    ['garbage', { kind: 'garbage', body: '<html>oops</html>' }, 'invalid_response', 200],
  ] as const)('a persistent %s fault ends in a bounded number of attempts', async (_name, fault, code, status) => {
    ep.setDefault(fault as never);
    const registry = new Registry();
    const tokens = make({ metrics: { registry } });
    const started = Date.now();
    const err = (await tokens.getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code, status, attempts: 4 });
    expect(ep.requests).toHaveLength(4); // 1 + retries
    // 4 attempts of at most the 300 ms timeout plus backoffs of at most 40 ms (and slack for a busy machine)
    expect(Date.now() - started).toBeLessThan(4 * 300 + 3 * 40 + 1500);
    const text = await registry.metrics();
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'retry' })).toBe(3);
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'error' })).toBe(1);
  });

  it('metrics: shared by several providers on one registry, and promtool accepts them', async () => {
    const registry = new Registry();
    ep.queue({ kind: 'status', status: 500 });
    const a = make({ clientId: 'a', metrics: { registry } });
    const b = make({ clientId: 'b', metrics: { registry } });
    await a.getToken();
    await b.getToken();
    a.invalidate();
    await a.getToken(); // a second token for a
    const text = await registry.metrics();
    const parsed = parseProm(text);
    expect(sample(parsed, 'tokenguard_client_token_fetches_total', { outcome: 'ok' })).toBe(3);
    expect(sample(parsed, 'tokenguard_client_token_fetches_total', { outcome: 'retry' })).toBe(1);
    expect(parsed.types.get('tokenguard_client_token_validity_at_refresh_seconds')).toBe('histogram');
    const check = await promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });

  it('honours Retry-After on a 429 (capped by retry.maxDelay)', async () => {
    ep.queue({ kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: { error: 'slow_down' } });
    const tokens = make({ retry: { retries: 2, minDelay: '10ms', maxDelay: '2s' } });
    await tokens.getToken();
    expect(ep.requests).toHaveLength(2);
    expect(ep.requests[1]!.at - ep.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('gives up when retry.maxElapsed would be passed', async () => {
    ep.setDefault({ kind: 'status', status: 502 });
    const tokens = make({ retry: { retries: 10, minDelay: '100ms', maxDelay: '100ms', maxElapsed: '250ms' } });
    const started = Date.now();
    const err = (await tokens.getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toMatchObject({ code: 'endpoint_unavailable', status: 502 });
    // Equal jitter makes each backoff 50-100 ms, so at most 1 + 250 / 50 = 6 attempts fit in maxElapsed, never the
    // 11 that retries: 10 would allow (regression: the bound was 4, which short jittered backoffs exceed now and then).
    expect(err.attempts).toBe(ep.requests.length);
    expect(ep.requests.length).toBeLessThanOrEqual(6);
    // no retry started after maxElapsed (server-side times, with slack for the way there)
    expect(ep.requests.at(-1)!.at - ep.requests[0]!.at).toBeLessThanOrEqual(250 + 150);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('a refusal is a clear error, never a retry loop', () => {
  it.each([
    [401, 'invalid_client', 'Client authentication failed'],
    [400, 'invalid_scope', 'scope orders:admin is not allowed'],
    [400, 'invalid_target', 'audience not allowed'],
    [400, 'unauthorized_client', 'grant not allowed'],
    [400, 'invalid_grant', 'nope'],
  ])('%i %s', async (status, error, description) => {
    ep.setDefault({ kind: 'status', status, body: { error, error_description: description }, headers: status === 401 ? { 'www-authenticate': 'Basic realm="token"' } : {} });
    const events: TokenEvent[] = [];
    // 600 ms of cooldown: the five calls below must all fall inside it even when a busy machine stalls this test
    const tokens = make({ failureCooldown: '600ms', onEvent: (e) => events.push(e) });
    const err = (await tokens.getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code: 'request_rejected', status, error, errorDescription: description, attempts: 1, retryable: false });
    expect(err.message).toContain(error);
    expect(ep.requests).toHaveLength(1);
    // callers in a loop do not hammer the endpoint during the failure cooldown
    for (let i = 0; i < 5; i++) await expect(tokens.getToken()).rejects.toMatchObject({ code: 'request_rejected', error });
    expect(ep.requests).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(['token.unavailable']);
    expect(events[0]).toMatchObject({ code: 'request_rejected', status, error, attempts: 1 });
    await delay(650);
    await expect(tokens.getToken()).rejects.toMatchObject({ error });
    expect(ep.requests).toHaveLength(2);
  });

  it('a 404 without an OAuth error is rejected, not retried', async () => {
    ep.setDefault({ kind: 'status', status: 404 });
    await expect(make().getToken()).rejects.toMatchObject({ code: 'request_rejected', status: 404, error: undefined });
    expect(ep.requests).toHaveLength(1);
  });

  it.each([
    ['a DPoP token', { kind: 'ok', tokenType: 'DPoP' }, 'not a Bearer token'],
    ['an access_token with CR/LF (header injection)', { kind: 'garbage', body: JSON.stringify({ access_token: 'abc\r\nX-Evil: 1', token_type: 'Bearer' }) }, 'no usable access_token'],
    ['a numeric access_token', { kind: 'garbage', body: JSON.stringify({ access_token: 42, token_type: 'Bearer' }) }, 'no usable access_token'],
    ['a body over 64 KiB', { kind: 'garbage', body: JSON.stringify({ access_token: 'a', pad: 'x'.repeat(70_000) }) }, 'more than 65536 bytes'],
  ] as const)('refuses %s', async (_name, fault, message) => {
    ep.setDefault(fault as never);
    await expect(make({ retry: false }).getToken()).rejects.toMatchObject({ code: 'invalid_response', message: expect.stringContaining(message) });
  });

  it('never follows a redirect from the token endpoint (credentials would go elsewhere)', async () => {
    const elsewhere: string[] = [];
    const other = await listen((req, res) => {
      elsewhere.push(req.headers.authorization ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"stolen","token_type":"Bearer","expires_in":60}');
    });
    try {
      ep.setDefault({ kind: 'status', status: 307, headers: { location: `${other.url}/token` } });
      await expect(make().getToken()).rejects.toMatchObject({ code: 'invalid_response', status: 307, retryable: false });
      expect(ep.requests).toHaveLength(1);
      expect(elsewhere).toHaveLength(0);
    } finally {
      await other.close();
    }
  });
});

describe('lifetime: expires_in and the JWT exp, whichever is earlier', () => {
  const lifetimeOf = async (opts: Parameters<typeof make>[0]): Promise<TokenEvent> => {
    const events: TokenEvent[] = [];
    await make({ ...opts, onEvent: (e) => events.push(e) }).getToken();
    expect(events).toHaveLength(1);
    return events[0]!;
  };

  it.each([['abc'], [-5], [0], [null], [{}], [[]], [1e308], ['omit'], [''], ['NaN']])('garbage expires_in %j falls back to the JWT exp', async (expiresIn) => {
    ep.setDefault({ kind: 'ok', ttl: 30, expiresIn });
    const e = await lifetimeOf({});
    const exp = decodeJwt(ep.issued[0]!).exp!;
    expect(e.lifetimeSeconds).toBeGreaterThan(28);
    expect(e.lifetimeSeconds).toBeLessThanOrEqual(30);
    expect(e.expiresAt!.getTime()).toBe(exp * 1000 - 5000); // the 5 s safety margin
  });

  it('garbage expires_in with an opaque token uses defaultLifetime, and warns once', async () => {
    ep.setDefault({ kind: 'ok', opaque: true, expiresIn: 'soon' });
    const warnings: unknown[] = [];
    const e = await lifetimeOf({ defaultLifetime: '12s', logger: { warn: (o) => warnings.push(o) } });
    expect(e.lifetimeSeconds).toBeGreaterThan(11.5);
    expect(e.lifetimeSeconds).toBeLessThanOrEqual(12);
    expect(warnings).toHaveLength(1);
  });

  it('a shorter expires_in wins over the JWT exp', async () => {
    ep.setDefault({ kind: 'ok', ttl: 120, expiresIn: 20 });
    const e = await lifetimeOf({});
    expect(e.lifetimeSeconds).toBeGreaterThan(19);
    expect(e.lifetimeSeconds).toBeLessThanOrEqual(20);
  });

  it('a shorter JWT exp wins over expires_in (numeric strings accepted)', async () => {
    ep.setDefault({ kind: 'ok', ttl: 20, expiresIn: '3600' });
    const e = await lifetimeOf({});
    expect(e.lifetimeSeconds).toBeLessThanOrEqual(20);
    expect(e.lifetimeSeconds).toBeGreaterThan(18);
  });
});

describe('secrets never reach logs, events or errors', () => {
  it('logs and events carry fingerprints only', async () => {
    const secret = 'fault-secret-Zq9';
    const lines: string[] = [];
    const logger = {
      debug: (o: object, m?: string) => lines.push(JSON.stringify({ o, m })),
      info: (o: object, m?: string) => lines.push(JSON.stringify({ o, m })),
      warn: (o: object, m?: string) => lines.push(JSON.stringify({ o, m })),
      error: (o: object, m?: string) => lines.push(JSON.stringify({ o, m })),
    };
    const events: TokenEvent[] = [];
    const errors: string[] = [];
    const tokens = make({ logger, onEvent: (e) => events.push(e), failureCooldown: 0, authMethod: 'client_secret_post' });
    const token = await tokens.getToken();
    tokens.invalidate();
    ep.queue({ kind: 'status', status: 401, body: { error: 'invalid_client', error_description: `bad secret ${secret}` } });
    await tokens.getToken().catch((e: Error) => errors.push(`${e.message} ${JSON.stringify(e)} ${String(e.stack)}`));
    ep.queue({ kind: 'garbage', body: `{"access_token":"${secret}` }, { kind: 'status', status: 500 }, { kind: 'reset' }, { kind: 'reset' });
    await tokens.getToken().catch((e: Error) => errors.push(`${e.message} ${JSON.stringify(e)}`));
    expect(errors).toHaveLength(2);
    expect(events.map((e) => e.type)).toEqual(['token.fetched', 'token.unavailable', 'token.unavailable']);
    const all = [...lines, ...errors, JSON.stringify(events)].join('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(token);
    expect(all).toContain(events[0]!.fingerprint!);
    expect(errors[0]).toContain('[redacted]');
  });
});
