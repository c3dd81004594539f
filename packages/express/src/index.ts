/**
 * `@tokenguard/express`: a thin Express adapter over `@tokenguard/core`. Works with Express 5 and 4
 * (no v5-only API is used; promise rejections are caught here, since Express 4 does not).
 */
import { IncomingMessage } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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
  type TokenError,
  type VerifierOptions,
  type VerifyContext,
} from '@tokenguard/core';

declare global {
  // Express's own augmentation point: declaration merging needs the namespace.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified token, set by `tokenGuard()`; undefined when no guard ran or optional auth saw no token. */
      auth?: AuthInfo;
    }
  }
}

export type { AuthInfo, ScopeMode, TokenVerifier, RequireScopesOptions, MetricsHandlerOptions } from '@tokenguard/core';
export { TokenError, isTokenError } from '@tokenguard/core';

/** Options of {@link tokenGuard}: every core `VerifierOptions` (see `@tokenguard/core`) plus `passErrors`. */
export interface TokenGuardOptions extends VerifierOptions, AdapterOptions {}

/** The middleware {@link tokenGuard} returns, with its verifier for health checks and shutdown. */
export interface TokenGuardMiddleware extends RequestHandler, GuardHandle {}

/**
 * Verifies the bearer token of every request it sees and sets `req.auth`. Rejections are answered here
 * (status, `WWW-Authenticate` or `Retry-After`, `Cache-Control: no-store`, JSON `{ error, error_description, code }`)
 * unless `passErrors: true`, which hands the `TokenError` to `next(err)` (its `status` and `headers` are
 * honoured by Express's default error handler). With `credentialsRequired: false` a request without a token
 * passes with `req.auth` undefined; a bad token is still rejected.
 *
 * Options are validated at once: a bad option throws a `TypeError` naming it.
 *
 * @example
 * app.use(tokenGuard({ issuer: 'https://idp.example.com/', audience: 'orders-api' }));
 * app.get('/orders', requireScopes('orders:read'), (req, res) => res.json({ sub: req.auth?.subject }));
 */
export function tokenGuard(options: TokenGuardOptions): TokenGuardMiddleware {
  const { passErrors, verifierOptions } = splitAdapterOptions(options);
  const verifier = createTokenVerifier(verifierOptions);
  const link = Object.freeze({ verifier, passErrors });
  // The core answers a cache hit synchronously: next() then runs in the same tick, with no promise. The
  // route/ip context goes only into audit events, so it is computed only when the verifier emits them.
  const entry = syncEntryOf(verifier);
  const middleware: RequestHandler = (req, res, next) => {
    let result: AuthInfo | undefined | Promise<AuthInfo | undefined>;
    try {
      result = entry.verifyRequest(req, entry.auditing ? contextOf(req) : undefined, queryFromUrl(req));
    } catch (err) {
      return fail(err, res, next, passErrors);
    }
    if (result instanceof Promise) {
      result.then(
        (auth) => {
          linkGuard(req, link, auth);
          if (auth) setAuth(req, auth);
          next();
        },
        (err: unknown) => fail(err, res, next, passErrors),
      );
      return;
    }
    linkGuard(req, link, result);
    if (result) setAuth(req, result);
    next();
  };
  return Object.assign(middleware, { verifier, close: () => verifier.close() });
}

// `req.auth` without a new own property on every request. Adding a property to Node's request object gives it a
// new hidden class, and every later property access Express makes on `req` pays for the extra shape; a WeakMap
// entry per request costs nearly as much (an ephemeron per request for the GC to trace and clear). So `auth` is an
// accessor on Express's request prototype (the one object between `app.request` and
// `http.IncomingMessage.prototype`, shared by every app of that Express copy), installed the first time a guard
// sees one of its requests, and the value lives in the request's own `res.locals` under a private symbol: the
// per-request object Express already makes for request-scoped data (a dictionary, so a new key changes no shape).
// Measured in a real server: ~1 µs per request less than the WeakMap, ~2.5 µs less than an own property
// (bench/README.md, "What an Express guard pays"). A request without `res.locals` (replaced by something that is
// not an extensible object) falls back to a WeakMap. Reading, assigning (another middleware, a test) and
// overriding `req.auth` behave as before; only `Object.hasOwn(req, 'auth')` changes. A request object that is
// not Express's (a mock) gets a plain property.
const kAuthAccessor = Symbol('tokenguard.authAccessor');
const kAuth = Symbol('tokenguard.auth');
type Locals = Record<symbol, AuthInfo | undefined>;
/** Requests whose `res.locals` could not hold the value; looked at only once one has been stored. */
const authOf = new WeakMap<object, AuthInfo | undefined>();
let authOfUsed = false;

function localsOf(req: object): Locals | undefined {
  const res = (req as { res?: unknown }).res;
  if (typeof res !== 'object' || res === null) return undefined;
  const locals = (res as { locals?: unknown }).locals;
  return typeof locals === 'object' && locals !== null ? (locals as Locals) : undefined;
}

const authAccessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object): AuthInfo | undefined {
    const value = localsOf(this)?.[kAuth];
    return value === undefined && authOfUsed ? authOf.get(this) : value;
  },
  set(this: object, value: AuthInfo | undefined) {
    storeAuth(this, value);
  },
};

function storeAuth(req: object, value: AuthInfo | undefined): void {
  const locals = localsOf(req);
  if (locals !== undefined && Reflect.set(locals, kAuth, value)) {
    if (authOfUsed) authOf.delete(req);
    return;
  }
  authOfUsed = true;
  authOf.set(req, value);
}

function setAuth(req: Request, auth: AuthInfo): void {
  // An own `auth` (set before the accessor existed, or on a mock) shadows the accessor: assign it directly.
  if ((req as unknown as Record<symbol, unknown>)[kAuthAccessor] !== true && !installAuthAccessor(req)) req.auth = auth;
  else if (Object.prototype.hasOwnProperty.call(req, 'auth')) req.auth = auth;
  else storeAuth(req, auth);
}

/** Installs the `auth` accessor on Express's request prototype of `req`; false when there is none to use. */
function installAuthAccessor(req: Request): boolean {
  let proto: object | null = Object.getPrototypeOf(req) as object | null;
  while (proto !== null && Object.getPrototypeOf(proto) !== IncomingMessage.prototype) proto = Object.getPrototypeOf(proto) as object | null;
  if (proto === null || Object.prototype.hasOwnProperty.call(proto, 'auth')) return false;
  Object.defineProperty(proto, 'auth', authAccessor);
  Object.defineProperty(proto, kAuthAccessor, { value: true });
  return true;
}

/**
 * Route middleware that requires scopes of the verified token (run after {@link tokenGuard}). Answers
 * 403 `insufficient_scope` whose challenge lists every scope named here (for `mode: 'any'` too), or 401
 * `token_missing` when the request has no verified token (optional auth). The scopes are validated at once.
 *
 * @param scopes one scope or an array of scopes
 * @example
 * app.post('/orders', requireScopes(['orders:write', 'orders:admin'], { mode: 'any' }), handler);
 */
export function requireScopes(scopes: string | readonly string[], options: RequireScopesOptions = {}): RequestHandler {
  const requirement = scopeRequirement(scopes, options.mode ?? 'all');
  return (req, res, next) => {
    const link = guardOf(req, req.auth);
    const err = checkScopes(req.auth, requirement, link?.verifier, () => contextOf(req));
    if (err === undefined) return next();
    fail(err, res, next, link?.passErrors ?? false);
  };
}

/**
 * Serves a prom-client registry in the Prometheus text format. Mount it before the guard (or give it its
 * own protection): it does not authenticate.
 *
 * @example
 * app.get('/metrics', metricsHandler());
 */
export function metricsHandler(options: MetricsHandlerOptions = {}): RequestHandler {
  const registry = metricsRegistry(options.registry === undefined ? undefined : { registry: options.registry });
  return (_req, res, next) => {
    renderMetrics(registry).then(({ contentType, body }) => {
      res.statusCode = 200;
      res.setHeader('content-type', contentType);
      res.setHeader('cache-control', 'no-store');
      res.end(body);
    }, next);
  };
}

/**
 * Whether `req.query` is Express 5's getter (no own `query` property: not Express 4, not replaced by a
 * middleware) with the built-in `'simple'` parser or parsing off: then it is parsed from `req.url` on every
 * read (~1 µs), and empty when the URL has no '?', so the core need not read it. Anything else is read as is.
 */
function queryFromUrl(req: Request): boolean {
  const app = req.app as Request['app'] | undefined;
  if (app === undefined || typeof app.get !== 'function' || Object.prototype.hasOwnProperty.call(req, 'query')) return false;
  const parser: unknown = app.get('query parser fn');
  return parser === parseQueryString || parser === undefined || parser === false;
}

/** Route template (never the raw URL, which is unbounded) and client address for audit events. */
function contextOf(req: Request): VerifyContext {
  const path: unknown = req.route?.path;
  const context: VerifyContext = {};
  if (typeof path === 'string') context.route = `${req.baseUrl}${path}`;
  const ip = req.ip ?? req.socket.remoteAddress;
  if (ip !== undefined) context.ip = ip;
  return context;
}

function fail(err: unknown, res: Response, next: NextFunction, passErrors: boolean): void {
  if (!isTokenError(err) || passErrors || res.headersSent) return next(err);
  send(res, err);
}

function send(res: Response, err: TokenError): void {
  const { status, headers, body } = errorResponse(err);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(JSON.stringify(body));
}
