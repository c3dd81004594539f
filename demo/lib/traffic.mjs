/**
 * The demo's callers: two services holding client credentials (`reader`: orders:read, `writer`: orders:read
 * orders:write) that call the three orders APIs through `@tokenguard/client` at a steady, bounded rate, plus
 * an anonymous caller (no token) and a fresh-token probe that mints a brand-new token every second, so tokens
 * signed by each new key reach every API the moment the issuer starts signing with it.
 */
import { decodeProtectedHeader } from 'jose';
import { createTokenProvider } from '@tokenguard/client';
import { AUDIENCE } from './apis.mjs';

/** Rejection codes that mean "the verifier did not have the key that signed a valid token": rotation failures. */
export const ROTATION_CODES = Object.freeze(['key_not_found', 'signature_invalid', 'jwks_unavailable']);

/** Longest time one call may take before it counts as an error. */
const CALL_TIMEOUT_MS = 5000;
/** At most this many calls in flight; a tick that finds them all busy is skipped (and counted). */
const MAX_IN_FLIGHT = 16;

/**
 * One kind of call and the answer it must get.
 * @typedef {object} CallKind
 * @property {string} name e.g. `reader GET /orders`
 * @property {'reader' | 'writer' | 'anonymous' | 'garbage'} caller `anonymous` sends no token, `garbage` a non-JWT
 * @property {'GET' | 'POST'} method
 * @property {number} expect the expected status
 * @property {string} [expectCode] the expected `code` of an error body
 */

/** @type {CallKind[]} */
export const CALL_KINDS = [
  { name: 'reader GET /orders', caller: 'reader', method: 'GET', expect: 200 },
  { name: 'writer POST /orders', caller: 'writer', method: 'POST', expect: 201 },
  { name: 'reader POST /orders', caller: 'reader', method: 'POST', expect: 403, expectCode: 'insufficient_scope' },
  { name: 'writer GET /orders', caller: 'writer', method: 'GET', expect: 200 },
  { name: 'reader GET /orders', caller: 'reader', method: 'GET', expect: 200 },
  { name: 'anonymous GET /orders', caller: 'anonymous', method: 'GET', expect: 401, expectCode: 'token_missing' },
  { name: 'writer GET /orders', caller: 'writer', method: 'GET', expect: 200 },
  { name: 'garbage token GET /orders', caller: 'garbage', method: 'GET', expect: 401, expectCode: 'token_malformed' },
];

/**
 * What the callers saw, per framework.
 * @typedef {object} CallerStats
 * @property {number} ok answers as expected (2xx for allowed calls)
 * @property {number} denied answers as expected that refuse the call (403 for scope, 401 for no token)
 * @property {number} unexpected answers with another status than expected
 * @property {number} rotationFailures unexpected 401/503 answers whose code is one of {@link ROTATION_CODES}
 * @property {number} errors calls that threw (network error, timeout)
 * @property {Record<string, number>} unexpectedBy `"<call>: <status> <code>"` → count
 */

/** @returns {CallerStats} */
function emptyStats() {
  return { ok: 0, denied: 0, unexpected: 0, rotationFailures: 0, errors: 0, unexpectedBy: {} };
}

async function errorCode(res) {
  try {
    const body = await res.json();
    return typeof body?.code === 'string' ? body.code : '';
  } catch {
    return '';
  }
}

/**
 * Mints a brand-new token straight from the token endpoint (RFC 6749 §4.4, client_secret_basic), bypassing any
 * cache. Rejects with a message that never holds the secret.
 * @param {string} tokenUrl
 * @param {string} clientId
 * @param {string} secret
 * @param {string} scope space-delimited
 * @returns {Promise<string>} the access token
 */
export async function mintToken(tokenUrl, clientId, secret, scope) {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, audience: AUDIENCE }).toString(),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}${typeof body?.error === 'string' ? ` ${body.error}` : ''}`);
  if (typeof body?.access_token !== 'string') throw new Error('token endpoint sent no access_token');
  return body.access_token;
}

/**
 * Starts the callers.
 * @param {object} opts
 * @param {string} opts.tokenUrl the issuer's token endpoint
 * @param {{ reader: string, writer: string }} opts.secrets client secrets
 * @param {{ framework: string, url: string }[]} opts.apis
 * @param {number} opts.rate calls per second, all APIs together
 * @returns {{ stats: Record<string, CallerStats>, probe: { lastKid: string | undefined, signerChanges: number, lastToken: string | undefined, mints: number, mintErrors: number, lastMintedAt: number }, skipped: () => number, stop: () => Promise<void> }}
 */
export function startTraffic({ tokenUrl, secrets, apis, rate }) {
  /** @type {Record<string, CallerStats>} */
  const stats = Object.fromEntries(apis.map((api) => [api.framework, emptyStats()]));
  const providers = {
    reader: createTokenProvider({ tokenUrl, clientId: 'reader', clientSecret: secrets.reader, scopes: ['orders:read'], audience: AUDIENCE }),
    writer: createTokenProvider({ tokenUrl, clientId: 'writer', clientSecret: secrets.writer, scopes: ['orders:read', 'orders:write'], audience: AUDIENCE }),
  };
  const probe = { lastKid: undefined, signerChanges: 0, lastToken: undefined, mints: 0, mintErrors: 0, lastMintedAt: 0 };
  const inFlight = new Set();
  let stopped = false;
  let skipped = 0;
  let step = 0;

  /** Records one answer against its expectation: the status and, for an error, the body's `code`. */
  async function record(framework, kind, res) {
    const s = stats[framework];
    const code = res.status >= 400 ? await errorCode(res) : '';
    if (res.status < 400) await res.body?.cancel();
    if (res.status === kind.expect && (kind.expectCode === undefined || code === kind.expectCode)) {
      if (res.status < 300) s.ok++;
      else s.denied++;
      return;
    }
    s.unexpected++;
    if ((res.status === 401 || res.status === 503) && ROTATION_CODES.includes(code)) s.rotationFailures++;
    const key = `${kind.name}: ${res.status}${code ? ` ${code}` : ''}`;
    s.unexpectedBy[key] = (s.unexpectedBy[key] ?? 0) + 1;
  }

  async function call(api, kind) {
    const init = { method: kind.method, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) };
    if (kind.method === 'POST') Object.assign(init, { headers: { 'content-type': 'application/json' }, body: '{"item":"demo widget"}' });
    try {
      const url = `${api.url}/orders`;
      let res;
      if (kind.caller === 'anonymous') res = await fetch(url, init);
      else if (kind.caller === 'garbage') res = await fetch(url, { ...init, headers: { ...init.headers, authorization: 'Bearer not-a-jwt' } });
      else res = await providers[kind.caller].fetch(url, init);
      await record(api.framework, kind, res);
    } catch {
      if (!stopped) stats[api.framework].errors++;
    }
  }

  function track(promise) {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  }

  // One call per tick, round-robin over (API × call kind): a steady rate that never piles up.
  const tick = setInterval(() => {
    if (inFlight.size >= MAX_IN_FLIGHT) {
      skipped++;
      return;
    }
    const api = apis[step % apis.length];
    const kind = CALL_KINDS[Math.floor(step / apis.length) % CALL_KINDS.length];
    step++;
    track(call(api, kind));
  }, Math.max(5, Math.round(1000 / rate)));

  const mint = () => mintToken(tokenUrl, 'reader', secrets.reader, 'orders:read');

  const probeKind = { name: 'fresh token GET /orders', caller: 'reader', method: 'GET', expect: 200 };
  async function runProbe() {
    let token;
    try {
      token = await mint();
    } catch {
      if (!stopped) probe.mintErrors++;
      return;
    }
    probe.mints++;
    probe.lastToken = token;
    probe.lastMintedAt = Date.now();
    // Each change of the kid that signs brand-new tokens is one rotation, as the callers see it.
    const kid = String(decodeProtectedHeader(token).kid ?? '');
    if (probe.lastKid !== undefined && probe.lastKid !== kid) probe.signerChanges++;
    probe.lastKid = kid;
    await Promise.all(apis.map(async (api) => {
      try {
        const res = await fetch(`${api.url}/orders`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
        await record(api.framework, probeKind, res);
      } catch {
        if (!stopped) stats[api.framework].errors++;
      }
    }));
  }
  let probing = false;
  const startProbe = () => {
    if (probing || stopped) return;
    probing = true;
    track(runProbe().finally(() => { probing = false; }));
  };
  const probeTimer = setInterval(startProbe, 1000);
  startProbe();

  return {
    stats,
    probe,
    skipped: () => skipped,
    async stop() {
      stopped = true;
      clearInterval(tick);
      clearInterval(probeTimer);
      // Calls in flight are bounded by their own timeout; wait for them so nothing runs after the servers close.
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled([providers.reader.close(), providers.writer.close()]);
    },
  };
}
