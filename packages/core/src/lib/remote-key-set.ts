/**
 * The remote key set of one issuer: a JWKS fetched from `jwksUri` (or found by discovery), built to keep
 * verifying through endpoint faults.
 *
 * - One fetch at a time (single-flight); requests for known keys never wait on it.
 * - Refresh-ahead: a background timer (unref'ed) refetches before `cacheMaxAge`, so steady-state requests
 *   never wait.
 * - Unknown kid: one refetch, then at most one per `cooldown`; after failures, exponential backoff, so a
 *   flood of random kids costs at most one fetch per cooldown, also while the endpoint is down.
 * - No good set yet (cold start, or the last one expired past `staleIfError`): the failure backoff starts at
 *   1 s (or `cooldown` if shorter) and doubles up to `cooldown`, so one slow or failed first fetch does not
 *   lock every request out for a whole cooldown.
 * - Stale-if-error: the last good set keeps serving for `staleIfError` past `cacheMaxAge` while fetches fail.
 * - A request waits at most `timeout` for keys (discovery and fetch together), then gets `jwks_unavailable`
 *   with a `Retry-After` of the time left before the next fetch may start.
 * - A key that a refresh no longer lists stops being current at once (`isCurrent` false).
 *
 * jose's `createRemoteJWKSet` is deliberately not used: it has no serve-stale, its cooldown clock only moves on
 * success and it reads bodies without a size cap (THREATS.md, "three jose facts").
 */
import type { JWSHeaderParameters } from 'jose';
import { TokenError } from '../errors.js';
import type { IssuerHealth } from '../types.js';
import { fetchJson, FetchError } from './bounded-fetch.js';
import { discoverJwksUri } from './discovery.js';
import { alertRejected, jwksUnavailable, keyNotFound } from './key-errors.js';
import { buildKeySet, isCurrentKey, resolvedFor, selectKey, type BuildResult, type KeyEntry, type KeySet } from './key-set.js';
import type { KeySource, ResolvedKey } from './key-source.js';
import type { ResolvedJwksOptions, KeySourceDeps } from './key-sources.js';
import type { Telemetry } from './telemetry.js';

/** Settings of {@link createRemoteKeySource}; durations in seconds. */
export interface RemoteKeySourceConfig {
  issuer: string;
  algorithms: readonly string[];
  jwks: ResolvedJwksOptions;
  /** Explicit key-set URL; without it the URL comes from discovery on `issuer`. */
  jwksUri?: URL;
}

/** Refresh-ahead point as a fraction of `cacheMaxAge` (with up to +0.1 jitter so fleets spread out). */
const REFRESH_AHEAD = 0.75;
/** Longest failure backoff, unless `cooldown` itself is longer. */
const MAX_BACKOFF_SECONDS = 300;
/** First failure backoff while no good set exists (capped by `cooldown`). */
const COLD_BACKOFF_SECONDS = 1;

/** Whether a URL's host is a loopback address (http:// there is fine without a warning). */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Builds the remote {@link KeySource} of one issuer. Nothing is fetched until the first `resolve()` (or
 * `health()`, which starts a background fetch so readiness probes see keys).
 * @example
 * const source = createRemoteKeySource({ issuer, jwksUri: new URL(uri), algorithms: ['ES256'], jwks: resolveJwksOptions({}) }, { telemetry })
 */
export function createRemoteKeySource(config: RemoteKeySourceConfig, deps: KeySourceDeps): KeySource {
  return new RemoteKeySource(config, deps);
}

type Reason = 'missing' | 'unknown' | 'refresh';

class RemoteKeySource implements KeySource {
  readonly issuer: string;
  private readonly o: ResolvedJwksOptions;
  /** How long after a good fetch its set is served, ms (`cacheMaxAge` + `staleIfError`). */
  private readonly usableMs: number;
  private readonly allowed: ReadonlySet<string>;
  private readonly telemetry: Telemetry;
  private readonly fetchImpl: typeof fetch | undefined;
  private readonly owner = {};
  private readonly closer = new AbortController();

  private set: KeySet | undefined;
  /** Epoch ms of the last good fetch. */
  private fetchedAt = 0;
  private refreshDueAt = 0;
  private discovered: { uri: URL; at: number } | undefined;
  private inflight: Promise<boolean> | undefined;
  /** Epoch ms when the fetch in flight started. */
  private inflightStartedAt = 0;
  /** Epoch ms when the last fetch triggered by an unknown kid started (the cooldown clock). */
  private lastUnknownAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  /** Consecutive failures while no usable set existed (drives the short cold-start backoff). */
  private coldFailures = 0;
  /** Epoch ms before which no fetch starts after failures. */
  private retryAt = 0;
  private lastError: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Kids of private keys alerted on at the last fetch (an anomaly is raised when one first appears). */
  private readonly privateKids = new Set<string>();

  constructor(private readonly config: RemoteKeySourceConfig, deps: KeySourceDeps) {
    this.issuer = config.issuer;
    this.o = config.jwks;
    this.usableMs = (this.o.cacheMaxAge + this.o.staleIfError) * 1000;
    this.allowed = new Set(config.algorithms);
    this.telemetry = deps.telemetry;
    this.fetchImpl = deps.fetch;
    if (config.jwksUri) this.warnIfPlainHttp(config.jwksUri, 'jwksUri');
    else this.warnIfPlainHttp(new URL(config.issuer), 'issuer');
  }

  async resolve(header: JWSHeaderParameters): Promise<ResolvedKey> {
    const deadline = Date.now() + this.o.timeout * 1000;
    const now = this.answerNow(header);
    if (now instanceof TokenError) throw now;
    if (now !== undefined) return this.use(now, header.alg!);

    // Unknown kid (or no set yet), and a fetch is under way or may start. Join a fetch already under way; if that
    // one started before this request (so before the key may have been published) and does not bring the key,
    // start our own when the unknown-kid cooldown allows. At most two waits, both within the one deadline.
    const arrived = Date.now();
    for (let round = 0; round < 2; round++) {
      let pending = this.inflight;
      const joined = pending !== undefined && this.inflightStartedAt < arrived;
      if (!pending) {
        const reason: Reason = this.usableSet() ? 'unknown' : 'missing';
        if (!this.mayFetch(reason)) break;
        pending = this.refresh(reason);
      }
      if ((await raceDeadline(pending, deadline)) === 'timeout') throw jwksUnavailable(this.retryIn(), new FetchError('timed out waiting for the key set'));
      const again = selectKey(this.usableSet(), header, this.allowed);
      if ('entry' in again) return this.use(again.entry, header.alg!);
      if (again.miss !== 'unknown' || !joined) break;
    }
    throw this.missing();
  }

  refusal(header: JWSHeaderParameters): TokenError | undefined {
    const now = this.answerNow(header);
    return now instanceof TokenError ? now : undefined;
  }

  isCurrent(key: ResolvedKey, nowMs?: number): boolean {
    return isCurrentKey(key, this.owner) && this.usableSet(nowMs) !== undefined;
  }

  health(): IssuerHealth {
    const set = this.usableSet();
    if (!set) {
      if (!this.closed && !this.inflight && this.mayFetch('missing')) void this.refresh('missing');
      return { issuer: this.issuer, state: 'unavailable', keys: 0, ...(this.lastError ? { lastError: this.lastError } : {}) };
    }
    const ageSeconds = (Date.now() - this.fetchedAt) / 1000;
    this.telemetry.keySet(this.issuer, set.entries.length, ageSeconds);
    return {
      issuer: this.issuer,
      state: this.failures > 0 || ageSeconds >= this.o.cacheMaxAge ? 'stale' : 'fresh',
      keys: set.entries.length,
      ageSeconds,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closer.abort();
  }

  // --- internals -------------------------------------------------------------------------------------------

  private async use(entry: KeyEntry, alg: string): Promise<ResolvedKey> {
    try {
      return await resolvedFor(entry, alg);
    } catch (err) {
      throw keyNotFound(err);
    }
  }

  /**
   * What `resolve()` can answer without a wait: the key's entry, a rejection (a known kid that does not fit, or an
   * unknown kid while no fetch may start), or undefined when a fetch is under way or may start.
   */
  private answerNow(header: JWSHeaderParameters): KeyEntry | TokenError | undefined {
    if (this.closed) return jwksUnavailable(this.o.cooldown);
    this.refreshIfDue();
    const set = this.usableSet();
    const first = selectKey(set, header, this.allowed);
    if ('entry' in first) return first.entry;
    if (first.miss !== 'unknown') return keyNotFound();
    if (this.inflight !== undefined || this.mayFetch(set ? 'unknown' : 'missing')) return undefined;
    return this.missing();
  }

  /**
   * The answer for a key that is not in the set when no fetch can bring it now: key_not_found while the set is
   * known and the last fetch worked; otherwise the key may exist but cannot be had now (503).
   */
  private missing(): TokenError {
    return this.usableSet() && this.failures === 0 ? keyNotFound() : jwksUnavailable(this.retryIn(), this.errorCause());
  }

  /** The last good set while it may serve: up to `cacheMaxAge + staleIfError` after it was fetched. */
  private usableSet(nowMs = Date.now()): KeySet | undefined {
    if (!this.set) return undefined;
    if (nowMs - this.fetchedAt >= this.usableMs) return undefined;
    return this.set;
  }

  private mayFetch(reason: Reason): boolean {
    if (this.closed) return false;
    const now = Date.now();
    if (this.failures > 0 && now < this.retryAt) return false;
    if (reason === 'unknown' && now < this.lastUnknownAt + this.o.cooldown * 1000) return false;
    return true;
  }

  /** Seconds until a fetch may start again (for Retry-After), at least 1. */
  private retryIn(): number {
    const now = Date.now();
    const next = Math.max(this.failures > 0 ? this.retryAt : 0, this.lastUnknownAt + this.o.cooldown * 1000);
    return Math.max(1, (next - now) / 1000);
  }

  private errorCause(): FetchError | undefined {
    return this.lastError === undefined ? undefined : new FetchError(this.lastError);
  }

  /** Starts a background refresh when the refresh-ahead point has passed (e.g. a late timer). */
  private refreshIfDue(): void {
    if (this.set && !this.inflight && Date.now() >= this.refreshDueAt && this.mayFetch('refresh')) void this.refresh('refresh');
  }

  /** Single-flight fetch. Never rejects: resolves true on success; the outcome is in the state. */
  private refresh(reason: Reason): Promise<boolean> {
    if (this.inflight) return this.inflight;
    this.inflightStartedAt = Date.now();
    if (reason === 'unknown') this.lastUnknownAt = this.inflightStartedAt;
    const p = this.fetchOnce().finally(() => {
      if (this.inflight === p) this.inflight = undefined;
    });
    this.inflight = p;
    return p;
  }

  private async fetchOnce(): Promise<boolean> {
    const deadline = Date.now() + this.o.timeout * 1000;
    let result: BuildResult;
    try {
      const uri = await this.jwksUri(deadline);
      const doc = await fetchJson(uri, { deadline, maxBytes: this.o.maxBytes, signal: this.closer.signal, ...(this.fetchImpl ? { fetch: this.fetchImpl } : {}) });
      result = await buildKeySet(doc, { maxKeys: this.o.maxKeys, owner: this.owner, ...(this.set ? { previous: this.set } : {}) });
    } catch (err) {
      if (!this.closed) this.failed(err);
      return false;
    }
    if (this.closed) return false;
    this.succeeded(result);
    return true;
  }

  private async jwksUri(deadline: number): Promise<URL> {
    if (this.config.jwksUri) return this.config.jwksUri;
    const cached = this.discovered;
    if (cached && Date.now() - cached.at < this.o.cacheMaxAge * 1000) return cached.uri;
    try {
      const uri = await discoverJwksUri(this.issuer, { deadline, maxBytes: this.o.maxBytes, signal: this.closer.signal, ...(this.fetchImpl ? { fetch: this.fetchImpl } : {}) });
      this.discovered = { uri, at: Date.now() };
      this.warnIfPlainHttp(uri, 'jwks_uri');
      return uri;
    } catch (err) {
      // Stale-if-error for the metadata too: keep using the last jwks_uri it named.
      if (cached) return cached.uri;
      throw err;
    }
  }

  private succeeded(r: BuildResult): void {
    const now = Date.now();
    const hadSet = this.set !== undefined;
    for (const e of r.removed) e.current = false;
    this.set = r.set;
    this.fetchedAt = now;
    this.failures = 0;
    this.coldFailures = 0;
    this.retryAt = 0;
    this.lastError = undefined;
    const keys = r.set.entries.length;
    const t = this.telemetry;
    t.jwksFetch({ issuer: this.issuer, outcome: 'ok', keys });
    t.keySet(this.issuer, keys, 0);
    alertRejected(t, this.issuer, r.rejected, this.privateKids);
    for (const e of r.added) t.event({ type: 'key.added', issuer: this.issuer, ...(e.kid === undefined ? {} : { kid: e.kid }), initial: !hadSet });
    for (const e of r.removed) t.event({ type: 'key.removed', issuer: this.issuer, ...(e.kid === undefined ? {} : { kid: e.kid }) });
    t.event({ type: 'jwks.refreshed', issuer: this.issuer, keys, added: r.added.length, removed: r.removed.length });
    const ahead = this.o.cacheMaxAge * 1000 * (REFRESH_AHEAD + Math.random() * 0.1);
    this.refreshDueAt = now + ahead;
    this.schedule(ahead);
  }

  private failed(err: unknown): void {
    const now = Date.now();
    this.failures++;
    const set = this.usableSet();
    let backoff: number;
    if (set) {
      const cap = Math.max(this.o.cooldown, Math.min(this.o.cooldown * 8, MAX_BACKOFF_SECONDS));
      backoff = Math.min(this.o.cooldown * 2 ** (this.failures - 1), cap);
    } else {
      // Nothing to serve: every request fails until a fetch succeeds, so retry soon (1 s, 2 s, … up to cooldown).
      this.coldFailures++;
      backoff = Math.min(Math.min(COLD_BACKOFF_SECONDS, this.o.cooldown) * 2 ** (this.coldFailures - 1), this.o.cooldown);
    }
    backoff = Math.max(0.1, backoff);
    this.retryAt = now + backoff * 1000;
    this.lastError = err instanceof FetchError || (err instanceof Error && err.name === 'KeySetError') ? err.message : 'key set could not be loaded';
    const outcome = set ? 'stale' : 'error';
    const keys = set?.entries.length ?? 0;
    const t = this.telemetry;
    t.jwksFetch({ issuer: this.issuer, outcome, keys, message: this.lastError });
    t.keySet(this.issuer, keys, set ? (now - this.fetchedAt) / 1000 : undefined);
    t.event({ type: 'jwks.failed', issuer: this.issuer, outcome, keys, failures: this.failures, message: this.lastError });
    // Keep trying in the background while a stale set serves, so recovery is seen without waiting for a miss.
    if (set) this.schedule(backoff * 1000);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.mayFetch('refresh')) void this.refresh('refresh');
      else if (this.set) this.schedule(Math.max(100, this.retryAt - Date.now()));
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    this.timer.unref?.();
  }

  private warnIfPlainHttp(url: URL, what: string): void {
    if (url.protocol === 'http:' && !isLoopback(url)) {
      this.telemetry.warnOnce(`http-url:${url.origin}`, { issuer: this.issuer, url: url.origin }, `tokenguard: ${what} uses plain http:// on a non-loopback host; keys travel unauthenticated unless the network protects them`);
    }
  }
}

/** Waits for `p` until epoch-ms `deadline`; never rejects. */
async function raceDeadline<T>(p: Promise<T>, deadline: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
