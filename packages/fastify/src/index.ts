/**
 * `@tokenguard/fastify`: a thin Fastify 5 plugin over `@tokenguard/core`.
 *
 * Every route registered after the plugin is guarded: an `onRoute` hook reads the route's
 * `config: { auth, scopes, scopeMode }`, validates it at registration (a typo fails at start-up) and
 * installs the route's hooks. The token is verified in `preValidation` by default, because a form-body
 * token (RFC 6750 §2.2) needs the parsed body; Fastify's `bodyLimit` bounds what is parsed before.
 * `hook: 'onRequest'` verifies before the body is read (header and query tokens only).
 */
import fp from 'fastify-plugin';
import type {
  FastifyContextConfig,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
  preHandlerAsyncHookHandler,
} from 'fastify';
import {
  checkScopes,
  createTokenVerifier,
  errorResponse,
  guardOf,
  isTokenError,
  linkGuard,
  metricsRegistry,
  renderMetrics,
  scopeRequirement,
  splitAdapterOptions,
  syncEntryOf,
  type AdapterOptions,
  type RequireScopesOptions,
  type AuthInfo,
  type GuardLink,
  type RequestLike,
  type ScopeMode,
  type ScopeRequirement,
  type SyncEntry,
  type TokenError,
  type VerifierOptions,
  type VerifyContext,
} from '@tokenguard/core';
import type { Registry, RegistryContentType } from 'prom-client';

export type { AuthInfo, ScopeMode, TokenVerifier, RequireScopesOptions } from '@tokenguard/core';
export { TokenError, isTokenError } from '@tokenguard/core';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token; `null` on opted-out routes and when optional auth saw no token. */
    auth: AuthInfo | null;
  }
  interface FastifyInstance {
    /**
     * A `preHandler` that requires scopes of the verified token.
     * @example app.get('/orders', { preHandler: app.requireScopes('orders:read') }, handler)
     */
    requireScopes(scopes: string | readonly string[], options?: RequireScopesOptions): preHandlerAsyncHookHandler;
  }
  // Route `config` keys of tokenguard, typed for every route.
  interface FastifyContextConfig {
    /** `false`: the route is not authenticated; `'optional'`: a token is verified when sent; default `true`. */
    auth?: boolean | 'optional';
    /** Scopes the route requires (checked after verification). */
    scopes?: string | readonly string[];
    /** How `scopes` combine: `'all'` (default) or `'any'`. */
    scopeMode?: ScopeMode;
  }
}

/** The tokenguard keys of a route's `config` (`auth`, `scopes`, `scopeMode`), as typed on `FastifyContextConfig`. */
export type TokenGuardRouteConfig = Pick<FastifyContextConfig, 'auth' | 'scopes' | 'scopeMode'>;

/** Options of the plugin: every core `VerifierOptions`, `passErrors`, `hook`, and `metrics.path`. */
export interface FastifyTokenGuardOptions extends Omit<VerifierOptions, 'metrics'>, AdapterOptions {
  /**
   * Core metrics options plus `path`: when set, the registry is served there without authentication.
   * `false` disables metrics. Default: prom-client's default registry, not served.
   */
  metrics?: false | { registry?: Registry<RegistryContentType>; prefix?: string; path?: string };
  /** Hook that verifies the token: `'preValidation'` (default; sees form bodies), `'onRequest'` or `'preHandler'`. */
  hook?: 'onRequest' | 'preValidation' | 'preHandler';
}

type VerifyHook = 'onRequest' | 'preValidation' | 'preHandler';
const HOOKS: readonly VerifyHook[] = ['onRequest', 'preValidation', 'preHandler'];
// Keys that look like a misspelt tokenguard setting; anything else in `config` belongs to other plugins.
const SUSPECT_KEY = /^(scope|scp|auth|permission)/i;
const OWN_KEYS = new Set(['auth', 'scopes', 'scopeMode']);
const kRouteState = Symbol('tokenguard.route');

interface RouteState {
  guard: GuardLink;
  /** The guard's synchronous core entry (see `syncEntryOf`). */
  entry: SyncEntry;
  /** Whether the guard has a custom `getToken` (it always gets the full request view). */
  custom: boolean;
  optional: boolean;
  requirement: ScopeRequirement | undefined;
}

// Callback-style hooks: on a cache hit (and on a route without scopes) `done()` runs in the same tick, with
// no promise; an async hook would cost a promise and a microtask per hook and request.
type Done = (err?: Error) => void;
type HookFn = (request: FastifyRequest, reply: FastifyReply, done: Done) => void;
type GuardedRoute = RouteOptions & { [kRouteState]?: RouteState };

const tokenGuardPlugin: FastifyPluginAsync<FastifyTokenGuardOptions> = async (app, options) => {
  // Fastify hands its own registration options (`prefix`, `logLevel`, `logSerializers`) to every plugin; they
  // mean nothing to this one (fastify-plugin shares the parent's scope), so they are not verifier options.
  const { hook = 'preValidation', metrics, prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...rest } =
    options as FastifyTokenGuardOptions & { prefix?: unknown; logLevel?: unknown; logSerializers?: unknown };
  if (!HOOKS.includes(hook)) throw new TypeError(`"hook" must be one of ${HOOKS.join(', ')}`);
  const metricsPath = metrics ? metrics.path : undefined;
  if (metricsPath !== undefined && (typeof metricsPath !== 'string' || !metricsPath.startsWith('/'))) {
    throw new TypeError('"metrics.path" must be a path starting with "/"');
  }
  const coreMetrics: VerifierOptions['metrics'] = metrics === false ? false : metrics === undefined ? undefined : withoutPath(metrics);
  const { passErrors, verifierOptions } = splitAdapterOptions({ ...rest, ...(coreMetrics === undefined ? {} : { metrics: coreMetrics }) });
  const verifier = createTokenVerifier(verifierOptions);
  const guard: GuardLink = Object.freeze({ verifier, passErrors });
  const entry = syncEntryOf(verifier);
  const credentialsRequired = verifierOptions.credentialsRequired !== false;

  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null);
  if (!app.hasDecorator('requireScopes')) app.decorate('requireScopes', requireScopes);
  app.addHook('onClose', async () => verifier.close());

  app.addHook('onRoute', (route: GuardedRoute) => {
    const where = `${String(route.method)} ${route.url}`;
    const config = readRouteConfig(route.config, where);
    if (config.auth === false) return;
    const state: RouteState = {
      guard,
      entry,
      custom: verifierOptions.getToken !== undefined,
      optional: config.auth === 'optional' || !credentialsRequired,
      requirement: config.scopes === undefined ? undefined : scopeRequirement(config.scopes, config.scopeMode ?? 'all', `config.scopes of ${where}`),
    };
    const previous = route[kRouteState];
    // Several guards: the innermost one registered wins; hooks are installed once per route.
    if (previous !== undefined) {
      Object.assign(previous, state);
      return;
    }
    route[kRouteState] = state;
    const verifyHook: HookFn = (request, reply, done) => verifyRoute(request, reply, state, done);
    // A route without scopes gets no scope hook (every guard reads the same route config, so a later guard on
    // the same route cannot add scopes): one hook runner less per request.
    const scopeHooks: HookFn[] = state.requirement === undefined ? [] : [(request, reply, done) => enforce(request, reply, state, done)];
    if (hook === 'preHandler') route.preHandler = [verifyHook, ...scopeHooks, ...asArray(route.preHandler)] as RouteOptions['preHandler'];
    else {
      route[hook] = [verifyHook, ...asArray(route[hook])] as RouteOptions['onRequest'];
      if (scopeHooks.length > 0) route.preHandler = [...scopeHooks, ...asArray(route.preHandler)] as RouteOptions['preHandler'];
    }
  });

  if (metricsPath !== undefined) {
    const registry = metricsRegistry(coreMetrics);
    app.get(metricsPath, { config: { auth: false }, logLevel: 'warn' }, async (_request, reply) => {
      const { contentType, body } = await renderMetrics(registry);
      return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
    });
  }
};

function verifyRoute(request: FastifyRequest, reply: FastifyReply, state: RouteState, done: Done): void {
  const { guard, entry } = state;
  let result: AuthInfo | undefined | Promise<AuthInfo | undefined>;
  try {
    result = entry.verifyRequest(requestView(request, state.custom), entry.auditing ? contextOf(request) : undefined);
  } catch (err) {
    return rejectRoute(reply, err, state, done);
  }
  if (result instanceof Promise) {
    result.then(
      (auth) => {
        linkGuard(request, guard, auth);
        request.auth = auth ?? null;
        done();
      },
      (err: unknown) => rejectRoute(reply, err, state, done),
    );
    return;
  }
  linkGuard(request, guard, result);
  request.auth = result ?? null;
  done();
}

/** A verification failed: the hook answers it, or hands it on (`passErrors`, an unexpected error). */
function rejectRoute(reply: FastifyReply, err: unknown, state: RouteState, done: Done): void {
  // Optional auth per route: the guard's own setting may require a token, the route does not.
  if (state.optional && isTokenError(err) && err.code === 'token_missing') return done();
  if (!isTokenError(err) || state.guard.passErrors) return done(err as Error);
  send(reply, err);
  // As when an async hook returns the sent reply: Fastify runs no further hook and no handler.
  done();
}

function enforce(request: FastifyRequest, reply: FastifyReply, state: RouteState, done: Done): void {
  const { requirement, guard } = state;
  if (requirement === undefined) return done();
  const err = checkScopes(request.auth, requirement, guard.verifier, () => contextOf(request));
  if (err === undefined) return done();
  if (guard.passErrors) return done(err);
  send(reply, err);
  done();
}

/**
 * A `preHandler` that requires scopes (also available as `app.requireScopes`). Answers 403
 * `insufficient_scope` listing every scope named here, or 401 `token_missing` without a verified token.
 * Scopes are validated at once.
 * @example app.post('/orders', { preHandler: requireScopes(['orders:write', 'orders:admin'], { mode: 'any' }) }, handler)
 */
export function requireScopes(scopes: string | readonly string[], options: RequireScopesOptions = {}): preHandlerAsyncHookHandler {
  const requirement = scopeRequirement(scopes, options.mode ?? 'all');
  return async function requireScopesHook(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const guard = guardOf(request, request.auth);
    const err = checkScopes(request.auth, requirement, guard?.verifier, () => contextOf(request));
    if (err !== undefined) return fail(reply, err, guard?.passErrors ?? false);
    return undefined;
  };
}

function readRouteConfig(config: unknown, where: string): TokenGuardRouteConfig {
  if (config === undefined || config === null) return {};
  if (typeof config !== 'object') throw new TypeError(`route ${where}: "config" must be an object`);
  for (const key of Object.keys(config)) {
    if (SUSPECT_KEY.test(key) && !OWN_KEYS.has(key)) {
      throw new TypeError(`route ${where}: unknown tokenguard setting "config.${key}" (use "auth", "scopes" or "scopeMode")`);
    }
  }
  const { auth, scopes, scopeMode } = config as Record<string, unknown>;
  if (auth !== undefined && typeof auth !== 'boolean' && auth !== 'optional') {
    throw new TypeError(`route ${where}: "config.auth" must be true, false or 'optional'`);
  }
  if (auth === false && (scopes !== undefined || scopeMode !== undefined)) {
    throw new TypeError(`route ${where}: "config.scopes" cannot be combined with "config.auth: false"`);
  }
  if (scopeMode !== undefined && scopes === undefined) throw new TypeError(`route ${where}: "config.scopeMode" needs "config.scopes"`);
  if (scopeMode !== undefined && scopeMode !== 'all' && scopeMode !== 'any') {
    throw new TypeError(`route ${where}: "config.scopeMode" must be 'all' or 'any'`);
  }
  return config as TokenGuardRouteConfig;
}

/**
 * What the core reads the token from. A GET or HEAD request has no form body, and the core takes a query token
 * from the raw URL (`request.raw.url`, the URL Fastify routed), so Node's own request object tells it
 * everything: no view is built per request. A custom `getToken` always gets the full view.
 */
function requestView(request: FastifyRequest, custom: boolean): RequestLike {
  const raw = request.raw;
  if (!custom && (raw.method === 'GET' || raw.method === 'HEAD')) return raw;
  const view: RequestLike = {
    headers: request.headers,
    rawHeaders: request.raw.rawHeaders,
    method: request.method,
    url: request.url,
    query: request.query as Record<string, unknown>,
  };
  if (request.body !== undefined) view.body = request.body;
  return view;
}

function contextOf(request: FastifyRequest): VerifyContext {
  const context: VerifyContext = { ip: request.ip };
  const route = request.routeOptions.url;
  if (route !== undefined) context.route = route;
  return context;
}

function fail(reply: FastifyReply, err: unknown, passErrors: boolean): FastifyReply {
  if (!isTokenError(err) || passErrors) throw err;
  return send(reply, err);
}

function send(reply: FastifyReply, err: TokenError): FastifyReply {
  const { status, headers, body } = errorResponse(err);
  return reply.code(status).headers(headers).send(JSON.stringify(body));
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function withoutPath(metrics: { registry?: Registry<RegistryContentType>; prefix?: string; path?: string }): { registry?: Registry<RegistryContentType>; prefix?: string } {
  const { path: _path, ...rest } = metrics;
  return rest;
}

/**
 * The plugin. Register it before the routes it guards.
 * @example
 * await app.register(tokenGuard, { issuer, audience, metrics: { path: '/metrics' } });
 * app.get('/orders', { config: { scopes: ['orders:read'] } }, handler);
 * app.get('/health', { config: { auth: false } }, handler);
 */
export const tokenGuard = fp(tokenGuardPlugin, { fastify: '5.x', name: '@tokenguard/fastify' });
export default tokenGuard;
