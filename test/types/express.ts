/** Type tests: `req.auth` through the adapter's `declare global { namespace Express }` augmentation. */
import express, { type Request, type RequestHandler } from 'express';
import { tokenGuard, requireScopes, metricsHandler, type TokenGuardMiddleware } from '@tokenguard/express';
import type { AuthInfo, TokenVerifier } from '@tokenguard/core';
import { assertType, type Equals } from './equals';

declare const req: Request;
assertType<Equals<typeof req.auth, AuthInfo | undefined>>();
assertType<Equals<NonNullable<typeof req.auth>['scopes'], ReadonlySet<string>>>();

const guard = tokenGuard({ issuer: 'https://idp.example.com/', audience: 'orders-api' });
assertType<Equals<typeof guard, TokenGuardMiddleware>>();
assertType<Equals<typeof guard.verifier, TokenVerifier>>();
const asHandler: RequestHandler = guard;
const scopes: RequestHandler = requireScopes(['a', 'b'], { mode: 'any' });
const metrics: RequestHandler = metricsHandler();

const app = express();
app.use(asHandler, scopes, metrics);
app.get('/orders', requireScopes('orders:read'), (r, res) => {
  // the handler's own request type carries `auth` as well
  const sub: string | undefined = r.auth?.subject;
  res.json({ sub });
});

// @ts-expect-error auth is read-only information, not a string
const wrong: string = req.auth;
// @ts-expect-error mode is 'all' | 'any'
requireScopes('a', { mode: 'some' });
// @ts-expect-error audience is required
tokenGuard({ issuer: 'https://idp.example.com/' });
// @ts-expect-error passErrors is a boolean
tokenGuard({ issuer: 'https://idp.example.com/', audience: 'x', passErrors: 'yes' });
void wrong;
