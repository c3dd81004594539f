/**
 * `@tokenguard/express`: a thin Express adapter over `@tokenguard/core`. Works with Express 5 and 4
 * (no v5-only API is used; promise rejections are caught here, since Express 4 does not).
 */
import { IncomingMessage, ServerResponse, createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
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
          if (auth) setAuth(req, res, auth);
          next();
        },
        (err: unknown) => fail(err, res, next, passErrors),
      );
      return;
    }
    linkGuard(req, link, result);
    if (result) setAuth(req, res, result);
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
//
// Express 5's request and response objects do not share a hidden class from one request to the next: Express
// gives them its prototypes with Object.setPrototypeOf, and V8 caches no transition from such an object's map, so
// every property the router adds afterwards (`req.next` first) makes a hidden class of that request's own. Every
// property read on `req` or `res` then misses V8's inline caches and is looked up in full by the runtime, and any
// property a guard added would make one more hidden class per request (bench/README.md, "Every read of req is a
// full lookup on Express" and "Why an Express request costs what it does"). The guard therefore reads as few as it can: the prototype check is a WeakSet lookup, `res.locals` is
// read from the middleware's own `res` (which is Express's `req.res`), and the request stored last is remembered
// with its value, so the handler's own `req.auth` of that request is answered without reading `req.res.locals`
// again. Three reads fewer per request took the guard from +7.0–7.4 to +3.0–3.6 µs of server CPU over bare
// Express. The module keeps that one request object (the latest) until the next one is stored. A WeakMap for
// every request instead of `res.locals` measured +5.7–7.1 against +3.2–3.6 in the same run.
// Replacing `res.locals` with an object that does not carry the value loses it for any request but the latest;
// spreading it (`{ ...res.locals }`) carries it along.
// On a server made by `createServer(app)` (below) requests keep one hidden class and every read is cheap; the
// same code serves both.
const kAuthAccessor = Symbol('tokenguard.authAccessor');
const kAuth = Symbol('tokenguard.auth');
type Locals = Record<symbol, AuthInfo | undefined>;
/** Requests whose `res.locals` could not hold the value; looked at only once one has been stored. */
const authOf = new WeakMap<object, AuthInfo | undefined>();
let authOfUsed = false;
/** Request prototypes already known to lead to the installed accessor (one per Express app). */
const readyProtos = new WeakSet<object>();
/** The request whose `auth` was stored last, and that value. */
let lastReq: object | undefined;
let lastAuth: AuthInfo | undefined;

function localsOf(req: object): unknown {
  const res = (req as { res?: unknown }).res;
  return typeof res === 'object' && res !== null ? (res as { locals?: unknown }).locals : undefined;
}

const authAccessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object): AuthInfo | undefined {
    if (this === lastReq) return lastAuth;
    const locals = localsOf(this);
    const value = typeof locals === 'object' && locals !== null ? (locals as Locals)[kAuth] : undefined;
    return value === undefined && authOfUsed ? authOf.get(this) : value;
  },
  set(this: object, value: AuthInfo | undefined) {
    storeAuth(this, value, localsOf(this));
  },
};

/** Stores `req`'s value in `locals` (its `res.locals`), else in the WeakMap. */
function storeAuth(req: object, value: AuthInfo | undefined, locals: unknown): void {
  lastReq = req;
  lastAuth = value;
  if (typeof locals === 'object' && locals !== null) {
    try {
      // A plain store, which throws (strict mode) exactly where Reflect.set would answer false: locals frozen, not
      // extensible, or a proxy that refuses. Measured in a running server: 0.11 µs against Reflect.set's 0.19.
      (locals as Locals)[kAuth] = value;
      if (authOfUsed) authOf.delete(req);
      return;
    } catch {
      // Fall through to the WeakMap.
    }
  }
  authOfUsed = true;
  authOf.set(req, value);
}

function setAuth(req: Request, res: Response, auth: AuthInfo): void {
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === null || !readyProtos.has(proto)) {
    // First request of this app: install the accessor (once per Express copy), or, for a request object that is
    // not Express's (a mock), set a plain property.
    if ((req as unknown as Record<symbol, unknown>)[kAuthAccessor] !== true && !installAuthAccessor(req)) {
      req.auth = auth;
      return;
    }
    if (proto !== null) readyProtos.add(proto);
  }
  // An own `auth` (set before the accessor existed, or defined on this request) shadows the accessor.
  if (Object.prototype.hasOwnProperty.call(req, 'auth')) req.auth = auth;
  else storeAuth(req, auth, res.locals);
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
    // Read once: each read of `req` is a full lookup on Express (see the accessor above).
    const auth = req.auth;
    const link = guardOf(req, auth);
    const err = checkScopes(auth, requirement, link?.verifier, () => contextOf(req));
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
 * The app is read from the request's prototype (`app.request`, which holds `app`), not from `req` itself: a
 * read of `req` is a full lookup (see above), one of a shared prototype is not.
 */
function queryFromUrl(req: Request): boolean {
  const app = (Object.getPrototypeOf(req) as { app?: unknown } | null)?.app;
  const settings = typeof app === 'function' || (typeof app === 'object' && app !== null) ? (app as { settings?: unknown }).settings : undefined;
  if (typeof settings !== 'object' || settings === null || Object.prototype.hasOwnProperty.call(req, 'query')) return false;
  // What `app.get('query parser fn')` returns (Express 5 reads it so; Express 4 walks the same chain of settings).
  const parser = (settings as Record<string, unknown>)['query parser fn'];
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

/** What {@link serverOptions} returns: the request and response classes node's HTTP server is to build. */
export interface ExpressServerOptions {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/**
 * Options for node's `http.createServer` or `https.createServer` under which every request and response of
 * `app` is built with the prototypes Express gives it, from the start.
 *
 * Express gives each request and response its prototypes with `Object.setPrototypeOf(req, app.request)`, and V8
 * then makes a hidden class of that object's own for every property the router adds afterwards: every later read
 * of `req` or `res`, by Express, by the guard and by the handler, misses V8's inline caches, and the throwaway
 * hidden classes fill the old generation (a bare Express 5 server: several full collections a second). Here node
 * builds each request as an instance of a subclass of `http.IncomingMessage` whose prototype is `app.request`
 * (the same for the response), so Express's `setPrototypeOf` changes nothing, every request shares its hidden
 * classes, and its properties stay in fast mode. A bare Express 5 server measured ~28 µs of CPU per request
 * against ~115 µs under `app.listen()` (bench/README.md, session 18).
 *
 * What changes: `app.request` and `app.response` become the subclasses' prototypes, which inherit from the
 * objects they were, so everything defined on them before or after (Express's own getters, `req.app`, your
 * additions) reads as before. `req instanceof http.IncomingMessage` holds. A sub-app still sets its own
 * prototypes on the requests it handles (correct, only not faster there). The classes are made once per app:
 * every call for the same app returns them, so an HTTP and an HTTPS server of one app share them.
 *
 * @param app the Express application (5 or 4) the server hands its requests to
 * @throws TypeError when `app` is not an Express application (no `app.request` / `app.response`)
 * @example
 * const server = https.createServer({ ...serverOptions(app), key, cert }, app);
 */
export function serverOptions(app: Pick<Express, 'request' | 'response'>): ExpressServerOptions {
  return classesFor(app, 'serverOptions');
}

/**
 * `http.createServer(options, app)` with {@link serverOptions}: what `app.listen()` builds, minus Express's
 * per-request prototype change (see {@link serverOptions}). Listen on it as on any node server.
 *
 * @param app the Express application (5 or 4)
 * @param options node's `http.ServerOptions` (their `IncomingMessage` / `ServerResponse` are replaced)
 * @throws TypeError when `app` is not an Express application
 * @example
 * createServer(app).listen(3000, () => console.log('listening'));
 */
export function createServer(app: Express, options: ServerOptions = {}): Server {
  if (typeof app !== 'function') throw new TypeError('createServer: app must be an Express application (a function with app.request and app.response)');
  return createHttpServer({ ...options, ...classesFor(app, 'createServer') }, app);
}

/** The classes made for an app, while its `app.request` / `app.response` are still their prototypes. */
const classesOf = new WeakMap<object, ExpressServerOptions>();

function classesFor(app: Pick<Express, 'request' | 'response'>, who: string): ExpressServerOptions {
  const request = prototypeOf(app, 'request', IncomingMessage.prototype, who);
  const response = prototypeOf(app, 'response', ServerResponse.prototype, who);
  const known = classesOf.get(app);
  if (known !== undefined && known.IncomingMessage.prototype === request && known.ServerResponse.prototype === response) return known;
  // Subclasses, so that node builds each object with the constructor's full set of in-object fields (a plain
  // function whose `prototype` is app.request would leave most of node's fields out of the object, and Express's
  // first computed-key store would turn the request into a dictionary); their prototypes then inherit from
  // Express's objects and take their place.
  class ExpressRequest extends IncomingMessage {}
  class ExpressResponse extends ServerResponse {}
  Object.setPrototypeOf(ExpressRequest.prototype, request);
  Object.setPrototypeOf(ExpressResponse.prototype, response);
  const classes: ExpressServerOptions = { IncomingMessage: ExpressRequest, ServerResponse: ExpressResponse as typeof ServerResponse };
  app.request = ExpressRequest.prototype as Express['request'];
  app.response = ExpressResponse.prototype as unknown as Express['response'];
  classesOf.set(app, classes);
  return classes;
}

/** `app[name]`, checked to be an object that inherits from `base` (Express's `app.request` / `app.response`). */
function prototypeOf(app: unknown, name: 'request' | 'response', base: object, who: string): object {
  const value: unknown = typeof app === 'function' || (typeof app === 'object' && app !== null) ? (app as Record<string, unknown>)[name] : undefined;
  if (typeof value !== 'object' || value === null || !Object.prototype.isPrototypeOf.call(base, value)) {
    throw new TypeError(`${who}: app.${name} must be Express's ${name} prototype (is app an Express application?)`);
  }
  return value;
}
