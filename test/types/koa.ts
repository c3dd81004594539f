/** Type tests: `ctx.state.auth` through the adapter's `declare module 'koa'` augmentation of DefaultState. */
import Koa, { type Middleware, type ParameterizedContext } from 'koa';
import Router from '@koa/router';
import { tokenGuard, requireScopes, metricsHandler, type TokenGuardMiddleware, type TokenGuardState } from '@tokenguard/koa';
import type { AuthInfo, TokenVerifier } from '@tokenguard/core';
import { assertType, type Equals } from './equals';

declare const ctx: ParameterizedContext;
assertType<Equals<typeof ctx.state.auth, AuthInfo | undefined>>();
declare const _typed: ParameterizedContext<TokenGuardState>;
assertType<Equals<typeof _typed.state.auth, AuthInfo | undefined>>();

const guard = tokenGuard({ issuer: 'https://idp.example.com/', audience: 'orders-api' });
assertType<Equals<typeof guard, TokenGuardMiddleware>>();
assertType<Equals<typeof guard.verifier, TokenVerifier>>();

const app = new Koa();
const router = new Router();
app.use(guard);
router.get('/orders', requireScopes('orders:read'), (c) => {
  const sub: string | undefined = c.state.auth?.subject;
  c.body = { sub };
});
router.get('/metrics', metricsHandler());
const m: Middleware = requireScopes(['a', 'b'], { mode: 'all' });
void m;

// @ts-expect-error auth is AuthInfo | undefined, not a string
const wrong: string = ctx.state.auth;
// @ts-expect-error mode is 'all' | 'any'
requireScopes('a', { mode: 'every' });
void wrong;
