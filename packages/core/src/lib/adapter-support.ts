/**
 * Framework-free pieces the Express, Koa and Fastify adapters share, so each adapter stays a thin
 * translation between its framework and the core: scope-requirement parsing, the scope check with its
 * audit report, and a private link from a request to the guard that verified it.
 */
import { TokenError, rejection } from '../errors.js';
import { TRANSPORT } from '../extract-token.js';
import { hasScopes } from '../scopes.js';
import { DESCRIPTIONS } from './map-error.js';
import { syncEntry, verifierOf, type SyncEntry } from '../verifier.js';
import type { Registry } from 'prom-client';
import type { AuthInfo, TokenVerifier, VerifyContext } from '../types.js';

/** How several required scopes combine: `'all'` (default) needs every one, `'any'` needs one of them. */
export type ScopeMode = 'all' | 'any';

/** A route's scope requirement, validated once at start-up by {@link scopeRequirement}. */
export interface ScopeRequirement {
  readonly scopes: readonly string[];
  readonly mode: ScopeMode;
}

// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E (no space, no quote, no backslash).
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Validates a route's required scopes and mode. A bad value is a programmer error: a `TypeError`
 * naming `name` is thrown at start-up, never at request time.
 *
 * @param scopes one scope or a non-empty array of scopes (RFC 6749 scope tokens: no spaces)
 * @param mode `'all'` (default) or `'any'`
 * @param name how the caller's option is called in the error message (default `'scopes'`)
 * @example
 * scopeRequirement(['orders:write', 'orders:admin'], 'any') // { scopes: [...], mode: 'any' }
 */
export function scopeRequirement(scopes: unknown, mode: unknown = 'all', name = 'scopes'): ScopeRequirement {
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`"${name}" must be a scope string or a non-empty array of scope strings`);
  }
  for (const scope of list) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new TypeError(`"${name}" must hold only non-empty scope strings without spaces or quotes (pass several scopes as an array)`);
    }
  }
  if (mode !== 'all' && mode !== 'any') throw new TypeError(`"mode" must be 'all' or 'any'`);
  return Object.freeze({ scopes: Object.freeze([...new Set(list as string[])]), mode });
}

/**
 * Checks `auth` against a requirement. Returns the `TokenError` to answer with (`token_missing` when the
 * request carries no verified token, `insufficient_scope` listing every required scope otherwise), or
 * undefined when the requirement is met. A denial is reported to `verifier` (metrics + audit) once.
 *
 * @example
 * const err = checkScopes(req.auth, requirement, guardOf(req)?.verifier, { route: '/orders' });
 * if (err) return send(err);
 */
export function checkScopes(
  auth: AuthInfo | null | undefined,
  requirement: ScopeRequirement,
  verifier: TokenVerifier | undefined,
  context: VerifyContext | (() => VerifyContext) = {},
): TokenError | undefined {
  if (auth && hasScopes(auth, requirement.scopes, { mode: requirement.mode })) return undefined;
  const realm = verifier?.options.realm;
  const realmOption = realm === undefined ? {} : { realm };
  if (!auth) return rejection('token_missing', TRANSPORT.missing, realmOption);
  verifier?.reportScopeDenied(auth, requirement.scopes, typeof context === 'function' ? context() : context);
  return rejection('insufficient_scope', DESCRIPTIONS.scope, { scopes: requirement.scopes, ...realmOption });
}

/** What a guard records on each request it handles (see {@link linkGuard}). */
export interface GuardLink {
  readonly verifier: TokenVerifier;
  /** The guard's `passErrors` setting, inherited by `requireScopes` on the same request. */
  readonly passErrors: boolean;
}

/**
 * Records which guard handled a request (Express `req`, Koa `ctx.state`, Fastify `request`), so a later
 * `requireScopes` reports denials to the same metrics and audit stream and follows the guard's `passErrors`.
 * Call it once the guard knows the outcome. With the verified token's `auth` made by the guard's own verifier,
 * the link is found through that verifier (one entry per guard: nothing is stored per request or per token);
 * an AuthInfo from elsewhere is linked itself; without one (optional auth, no token), the request object is.
 * Links live outside the objects (WeakMaps): they never show up in logs or JSON. (Adding any property to a Node
 * request object gives it a new hidden class, which slowed every later access Express makes to it by 1.7–2 µs
 * per request in a real server, and a WeakMap entry per request or per new token costs about as much;
 * bench/README.md.)
 * @example linkGuard(req, { verifier, passErrors: false }, auth)
 */
export function linkGuard(target: object, link: GuardLink, auth?: AuthInfo): void {
  // The common case, a request verified by the guard that linked last and nothing ever linked to a request or an
  // AuthInfo: there is nothing to record (see `lastLink`).
  if (link === lastLink && !requestLinks && !authLinked && auth !== undefined && auth !== null && verifierOf(auth) === link.verifier) return;
  if (auth === undefined || auth === null) {
    requestLinks = true;
    links.set(target, link);
    return;
  }
  if (verifierOf(auth) === link.verifier) {
    if (verifierLinks.get(link.verifier) !== link) verifierLinks.set(link.verifier, link);
    lastLink = link;
    // This guard, not one that linked the same AuthInfo itself earlier (only possible once one did).
    if (authLinked) authLinks.delete(auth);
  } else if (authLinks.get(auth) !== link) {
    authLinked = true;
    authLinks.set(auth, link);
  }
  // An earlier guard on the same request that saw no token must not shadow this one (only possible once some
  // request was linked without a token: until then there is nothing to delete, and the lookup is skipped).
  if (requestLinks) links.delete(target);
}

/**
 * The guard {@link linkGuard} recorded for a request: the one linked to the request object, else the one
 * that verified `auth` (the request's AuthInfo).
 * @example const link = guardOf(req, req.auth); link?.verifier
 */
export function guardOf(target: object | undefined, auth?: AuthInfo | null): GuardLink | undefined {
  const direct = target === undefined || target === null ? undefined : links.get(target);
  if (direct !== undefined) return direct;
  if (auth === undefined || auth === null) return undefined;
  const own = authLinked ? authLinks.get(auth) : undefined;
  if (own !== undefined) return own;
  const verifier = verifierOf(auth);
  if (verifier === undefined) return undefined;
  // `verifierLinks` holds `lastLink` for its verifier (see there): the lookup is skipped for that guard's tokens.
  return lastLink !== undefined && lastLink.verifier === verifier ? lastLink : verifierLinks.get(verifier);
}

const links = new WeakMap<object, GuardLink>();
let requestLinks = false;
const authLinks = new WeakMap<AuthInfo, GuardLink>();
let authLinked = false;
const verifierLinks = new WeakMap<TokenVerifier, GuardLink>();
/**
 * The link `verifierLinks` holds for its own verifier, as last set or found there (only `linkGuard` changes either):
 * while no request or AuthInfo was ever linked, a later call by the same guard on an AuthInfo of that verifier
 * changes nothing, and returns at once. In a Fastify server the WeakMap lookup it skips cost ~0.3 µs per cache hit
 * (bench/README.md, session 28). Holds one guard's link, and with it its verifier, until another guard links.
 */
let lastLink: GuardLink | undefined;

/** Options every adapter adds to the core's `VerifierOptions`. */
export interface AdapterOptions {
  /** Hand the `TokenError` to the framework's error path instead of answering it. Default false. */
  passErrors?: boolean;
}

/**
 * Validates the adapter-only options and returns the rest for `createTokenVerifier`.
 * @example
 * const { passErrors, verifierOptions } = splitAdapterOptions(options);
 */
export function splitAdapterOptions<T extends AdapterOptions>(options: T): { passErrors: boolean; verifierOptions: Omit<T, 'passErrors'> } {
  if (options === null || typeof options !== 'object') throw new TypeError('tokenGuard options must be an object');
  const { passErrors = false, ...verifierOptions } = options;
  if (typeof passErrors !== 'boolean') throw new TypeError('"passErrors" must be a boolean');
  return { passErrors, verifierOptions };
}

/** What every adapter's guard carries besides being middleware: its verifier and a way to stop it. */
export interface GuardHandle {
  /** The verifier this guard built (once, at construction). */
  readonly verifier: TokenVerifier;
  /** Stops the verifier's timers and sockets. */
  close(): Promise<void>;
}

/** Options of every adapter's `requireScopes(scopes, options)`. */
export interface RequireScopesOptions {
  /** `'all'` (default): every scope is needed; `'any'`: one of them is enough. */
  mode?: ScopeMode;
}

/** Options of the Express and Koa `metricsHandler(options)`. */
export interface MetricsHandlerOptions {
  /** The prom-client registry to serve. Default: prom-client's default registry (where guards register by default). */
  registry?: Registry;
}

/**
 * How an adapter calls the core on each request: the verifier's synchronous entry (the AuthInfo itself on a
 * cache hit that needs no wait, so the adapter passes the request on in the same tick) and whether the verifier
 * emits audit events (the request context — route, client address — goes only into them: without events an
 * adapter need not compute it). Any other `TokenVerifier` is called through its promise-returning
 * `verifyRequest`, with the context always computed.
 * @example
 * const entry = syncEntryOf(verifier);
 * const result = entry.verifyRequest(req, entry.auditing ? contextOf(req) : undefined);
 */
export function syncEntryOf(verifier: TokenVerifier): SyncEntry {
  return syncEntry(verifier) ?? { verifyRequest: (req, context) => verifier.verifyRequest(req, context), auditing: true };
}
