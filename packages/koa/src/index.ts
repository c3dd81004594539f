/**
 * `@tokenguard/koa`: a thin Koa adapter over `@tokenguard/core`. `tokenGuard()` sets `ctx.state.auth`;
 * `requireScopes()` is plain Koa middleware, so it works as `@koa/router` route middleware.
 */
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';
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
  type GuardHandle,
  type MetricsHandlerOptions,
  type RequireScopesOptions,
  type AuthInfo,
  type RequestLike,
  type TokenError,
  type VerifierOptions,
  type VerifyContext,
} from '@tokenguard/core';

/** What the guard adds to `ctx.state`. */
export interface TokenGuardState {
  /** The verified token; undefined when no guard ran or optional auth saw no token. */
  auth?: AuthInfo;
}

declare module 'koa' {
  // Merges `auth` into every context's state, so `ctx.state.auth` is typed without generics.
  interface DefaultState {
    /** The verified token (see TokenGuardState). */
    auth?: AuthInfo;
  }
}

export type { AuthInfo, ScopeMode, TokenVerifier, RequireScopesOptions, MetricsHandlerOptions } from '@tokenguard/core';
export { TokenError, isTokenError } from '@tokenguard/core';

/** Options of {@link tokenGuard}: every core `VerifierOptions` plus `passErrors`. */
export interface TokenGuardOptions extends VerifierOptions, AdapterOptions {}

/** The middleware {@link tokenGuard} returns, with its verifier for health checks and shutdown. */
export interface TokenGuardMiddleware extends Middleware<TokenGuardState>, GuardHandle {}

type AnyContext = ParameterizedContext<TokenGuardState>;

/**
 * Verifies the bearer token and sets `ctx.state.auth`. Rejections are answered here (status,
 * `WWW-Authenticate` or `Retry-After`, `Cache-Control: no-store`, JSON `{ error, error_description, code }`)
 * unless `passErrors: true`: then the `TokenError` is thrown, and Koa's own error path honours its
 * `status`, `headers` and `expose`. A urlencoded body token is read from `ctx.request.body` when a body
 * parser ran before the guard.
 *
 * @example
 * app.use(tokenGuard({ issuer: 'https://idp.example.com/', audience: 'orders-api' }));
 * router.get('/orders', requireScopes('orders:read'), (ctx) => { ctx.body = { sub: ctx.state.auth?.subject } });
 */
export function tokenGuard(options: TokenGuardOptions): TokenGuardMiddleware {
  const { passErrors, verifierOptions } = splitAdapterOptions(options);
  const verifier = createTokenVerifier(verifierOptions);
  const link = Object.freeze({ verifier, passErrors });
  // The core answers a cache hit synchronously: no await before next(). The route/ip context goes only into
  // audit events, so it is computed only when the verifier emits them.
  const entry = syncEntryOf(verifier);
  const custom = verifierOptions.getToken !== undefined;
  // Not an async function: on a hit, next()'s own promise is returned, with no extra promise and await.
  const middleware = (ctx: AnyContext, next: Next): Promise<void> => {
    let result: AuthInfo | undefined | Promise<AuthInfo | undefined>;
    try {
      result = entry.verifyRequest(requestView(ctx, custom), entry.auditing ? contextOf(ctx) : undefined);
    } catch (err) {
      return failed(ctx, err, passErrors);
    }
    if (result instanceof Promise) {
      return result.then(
        (auth) => {
          linkGuard(ctx.state, link, auth);
          if (auth) ctx.state.auth = auth;
          return next();
        },
        (err: unknown) => fail(ctx, err, passErrors),
      );
    }
    linkGuard(ctx.state, link, result);
    if (result) ctx.state.auth = result;
    return next();
  };
  return Object.assign(middleware, { verifier, close: () => verifier.close() });
}

/**
 * Middleware that requires scopes of the verified token; use it after {@link tokenGuard}, e.g. as
 * `@koa/router` route middleware (the route template goes into the `scope.denied` audit event). Answers
 * 403 `insufficient_scope` listing every scope named here (for `mode: 'any'` too), or 401 `token_missing`
 * when the request has no verified token. Scopes are validated at once.
 *
 * @example
 * router.post('/orders', requireScopes(['orders:write', 'orders:admin'], { mode: 'any' }), handler);
 */
export function requireScopes(scopes: string | readonly string[], options: RequireScopesOptions = {}): Middleware<TokenGuardState> {
  const requirement = scopeRequirement(scopes, options.mode ?? 'all');
  return async (ctx: AnyContext, next: Next): Promise<void> => {
    const link = guardOf(ctx.state, ctx.state.auth);
    const err = checkScopes(ctx.state.auth, requirement, link?.verifier, () => contextOf(ctx));
    if (err !== undefined) return fail(ctx, err, link?.passErrors ?? false);
    await next();
  };
}

/**
 * Serves a prom-client registry in the Prometheus text format. It does not authenticate: mount it before
 * the guard, or protect it separately.
 *
 * @example
 * router.get('/metrics', metricsHandler());
 */
export function metricsHandler(options: MetricsHandlerOptions = {}): Middleware {
  const registry = metricsRegistry(options.registry === undefined ? undefined : { registry: options.registry });
  return async (ctx: Context): Promise<void> => {
    const { contentType, body } = await renderMetrics(registry);
    ctx.status = 200;
    ctx.body = body;
    ctx.set('content-type', contentType);
    ctx.set('cache-control', 'no-store');
  };
}

/**
 * What the core reads the token from. A GET or HEAD request has no form body, and the core takes a query token
 * from the raw URL (`req.url`, the same string as `ctx.url`), so Node's own request object tells it everything:
 * no view is built and Koa's `ctx.query` getter is not run. A custom `getToken` always gets the full view.
 */
function requestView(ctx: AnyContext, custom: boolean): RequestLike {
  const method = ctx.req.method;
  if (!custom && (method === 'GET' || method === 'HEAD')) return ctx.req;
  const view: RequestLike = {
    headers: ctx.req.headers,
    rawHeaders: ctx.req.rawHeaders,
    method: ctx.method,
    url: ctx.url,
    query: ctx.query,
  };
  // Koa has no body of its own; body parsers (koa-body, @koa/bodyparser) put it on ctx.request.body.
  const body = (ctx.request as { body?: unknown }).body;
  if (body !== undefined) view.body = body;
  return view;
}

function contextOf(ctx: AnyContext): VerifyContext {
  const context: VerifyContext = {};
  // @koa/router records the matched template (never the raw, unbounded URL).
  const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof route === 'string') context.route = route;
  if (ctx.ip) context.ip = ctx.ip;
  return context;
}

/** {@link fail} as a promise, as an async middleware would give it. */
function failed(ctx: AnyContext, err: unknown, passErrors: boolean): Promise<void> {
  try {
    fail(ctx, err, passErrors);
  } catch (thrown) {
    return Promise.reject(thrown as Error);
  }
  return Promise.resolve();
}

function fail(ctx: AnyContext, err: unknown, passErrors: boolean): void {
  if (!isTokenError(err) || passErrors) throw err;
  send(ctx, err);
}

function send(ctx: AnyContext, err: TokenError): void {
  const { status, headers, body } = errorResponse(err);
  ctx.status = status;
  // A string body keeps the exact bytes every adapter sends; the headers below set its content type.
  ctx.body = JSON.stringify(body);
  ctx.set(headers);
}
