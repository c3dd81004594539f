import { TokenUnavailableError, type TokenEvent } from '@tokenguard/client';
import { decodeJwt } from 'jose';
import { Registry } from 'prom-client';
import { delay, useFaultServer } from './fault-server';
import { parseProm, sample } from '../../../test/helpers/prom';

const { ep: server, make } = useFaultServer();
let ep: ReturnType<typeof server>;
beforeAll(() => {
  ep = server();
});

describe('short lifetimes', () => {
  it.each([
    [1, 2500],
    [2, 5000],
  ])('never hands out an expired token over several %is lifetimes, with faults on the way', async (ttl, runMs) => {
    ep.setDefault({ kind: 'ok', ttl });
    const tokens = make({ timeout: '150ms' });
    const started = Date.now();
    let calls = 0;
    let expired = 0;
    const distinct = new Set<string>();
    const worker = async (): Promise<void> => {
      // bounded in time and count
      while (Date.now() - started < runMs && calls < 20_000) {
        const token = await tokens.getToken();
        calls++;
        distinct.add(token);
        if (decodeJwt(token).exp! * 1000 <= Date.now()) expired++;
        await delay(5 + Math.random() * 10);
      }
    };
    const faults = (async () => {
      // a slow answer, a 500 and a reset now and then, while the endpoint stays reachable
      for (const f of [{ kind: 'slow', ms: 400 }, { kind: 'status', status: 500 }, { kind: 'reset' }] as const) {
        await delay(runMs / 4);
        ep.queue(f as never);
      }
    })();
    await Promise.all([worker(), worker(), worker(), worker(), faults]);
    expect(calls).toBeGreaterThan(100);
    expect(expired).toBe(0);
    expect(distinct.size).toBeGreaterThanOrEqual(Math.floor(runMs / 1000 / ttl));
    // ahead-of-expiry refresh, not a request per call
    expect(ep.requests.length).toBeLessThan(calls / 5);
  });
});

describe('a token that runs out while getToken() waits for it', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** Date.now() of the endpoint and the client (one process), ahead of the real clock by `offset` ms. */
  function shiftedClock(): { offset: number } {
    const clock = { offset: 0 };
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + clock.offset);
    return clock;
  }

  it('is never handed out: getToken() fetches once more and returns the fresh token', async () => {
    // The clock (the endpoint's and the client's: one process) jumps 2.5 s forward between the client's check of
    // a just-fetched 2 s token ("expires on arrival"?) and the hand-out to the waiting call, as a busy event loop
    // can do to a token with a few ms left. The jump happens inside the token.fetched event, which comes between.
    ep.setDefault({ kind: 'ok', ttl: 2 });
    const clock = shiftedClock();
    const events: TokenEvent[] = [];
    const tokens = make({
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'token.fetched' && clock.offset === 0) clock.offset = 2500;
      },
    });
    const waiting = await Promise.all([tokens.getToken(), tokens.getToken()]);
    expect(ep.issued).toHaveLength(2);
    expect(events.filter((e) => e.type === 'token.fetched')).toHaveLength(2);
    // both waiting calls got the second token, which is valid on the (jumped) clock; the first one never left
    for (const token of waiting) {
      expect(token).toBe(ep.issued[1]);
      expect(decodeJwt(token).exp! * 1000).toBeGreaterThan(Date.now());
    }
    expect(decodeJwt(ep.issued[0]!).exp! * 1000).toBeLessThanOrEqual(Date.now());
  });

  it('is fetched again at most once: a clock that overtakes every fetched token still ends the call after two fetches', async () => {
    ep.setDefault({ kind: 'ok', ttl: 2 });
    const clock = shiftedClock();
    // every fetched token is overtaken by the clock at once: getToken() must still end after two fetches
    const tokens = make({ onEvent: (e) => void (e.type === 'token.fetched' && (clock.offset += 2500)) });
    const token = await tokens.getToken();
    expect(ep.issued).toHaveLength(2);
    expect(token).toBe(ep.issued[1]);
  });
});

describe('a failed background refresh keeps serving the current token until its own expiry', () => {
  it('serves, reports, then rejects once the token has expired, then recovers', async () => {
    // A 4 s JWT (its whole-second exp leaves 3-4 s of real life) refreshed at 20%: the failed refresh is over
    // about 2 s before the token's own end, room for a busy machine (3 s and 30% left under 1 s).
    ep.setDefault({ kind: 'ok', ttl: 4 });
    const events: TokenEvent[] = [];
    const registry = new Registry();
    const tokens = make({ refreshAhead: 0.2, refreshJitter: 0, failureCooldown: '50ms', metrics: { registry }, onEvent: (e) => events.push(e) });
    const first = await tokens.getToken();
    ep.setDefault({ kind: 'status', status: 503 });
    const deadline = Date.now() + 4000;
    while (!events.some((e) => e.type === 'token.refresh_failed') && Date.now() < deadline) await delay(20);
    const failed = events.find((e) => e.type === 'token.refresh_failed')!;
    expect(failed).toMatchObject({ code: 'endpoint_unavailable', status: 503, attempts: 4 });
    expect(failed.fingerprint).toBe(events[0]!.fingerprint);
    // still served while valid
    expect(Date.now()).toBeLessThan(failed.expiresAt!.getTime());
    expect(await tokens.getToken()).toBe(first);
    const text = await registry.metrics();
    expect(sample(parseProm(text), 'tokenguard_client_token_fetches_total', { outcome: 'error' })).toBeGreaterThanOrEqual(1);
    expect(sample(parseProm(text), 'tokenguard_client_token_validity_at_refresh_seconds_count')).toBeGreaterThanOrEqual(1);
    // after its expiry (minus margin): a clear rejection that says why
    while (Date.now() < failed.expiresAt!.getTime() + 10) await delay(20);
    const err = (await tokens.getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err.code).toBe('endpoint_unavailable');
    expect(err.message).toMatch(/the last one expired at .* 503/);
    expect(err.expiredAt?.getTime()).toBe(failed.expiresAt!.getTime());
    expect(events.some((e) => e.type === 'token.unavailable')).toBe(true);
    expect(decodeJwt(first).exp! * 1000).toBeGreaterThan(err.expiredAt!.getTime());
    // the endpoint comes back
    ep.setDefault({ kind: 'ok', ttl: 60 });
    await delay(60);
    const next = await tokens.getToken();
    expect(next).not.toBe(first);
  });
});


describe('jitter', () => {
  it('a fleet of providers with the same token lifetime does not refresh in lockstep', async () => {
    ep.setDefault({ kind: 'ok', opaque: true, ttl: 5 });
    const fleet = Array.from({ length: 20 }, (_, i) => make({ clientId: `svc-${i}`, refreshAhead: 0.2, refreshJitter: 0.1 }));
    await Promise.all(fleet.map((p) => p.getToken()));
    const first = ep.requests.length;
    // each provider's own first request: the refresh is timed from it (the 20 first answers are not simultaneous)
    const initial = new Map(ep.requests.slice(0, first).map((r) => [r.authorization!, r.at]));
    const deadline = Date.now() + 3000;
    while (new Set(ep.requests.slice(first).map((r) => r.authorization)).size < fleet.length && Date.now() < deadline) await delay(20);
    // the first refresh of each provider (a provider may refresh twice in this window)
    const firstRefresh = new Map<string, number>();
    for (const r of ep.requests.slice(first)) if (!firstRefresh.has(r.authorization!)) firstRefresh.set(r.authorization!, r.at - initial.get(r.authorization!)!);
    const refreshes = [...firstRefresh.values()];
    expect(refreshes).toHaveLength(fleet.length);
    // refresh at 20% ± 10% of 5 s after its own token: spread over up to a second (plus late timers on a busy
    // machine), not all at once
    const spread = Math.max(...refreshes) - Math.min(...refreshes);
    expect(spread).toBeGreaterThan(300);
    expect(spread).toBeLessThanOrEqual(1250);
    for (const offset of refreshes) expect(offset).toBeLessThanOrEqual(1500 + 250);
  });
});
