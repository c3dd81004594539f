/**
 * Type tests: `request.auth`, `app.requireScopes` and route `config` through the plugin's
 * `declare module 'fastify'` augmentation (FastifyRequest, FastifyInstance, FastifyContextConfig).
 */
import Fastify, { type FastifyContextConfig, type FastifyRequest, type preHandlerAsyncHookHandler } from 'fastify';
import tokenGuard, { tokenGuard as named, requireScopes } from '@tokenguard/fastify';
import type { AuthInfo, ScopeMode } from '@tokenguard/core';
import { assertType, type Equals } from './equals';

declare const _request: FastifyRequest;
assertType<Equals<typeof _request.auth, AuthInfo | null>>();
assertType<Equals<FastifyContextConfig['scopes'], string | readonly string[] | undefined>>();
assertType<Equals<FastifyContextConfig['scopeMode'], ScopeMode | undefined>>();
assertType<Equals<FastifyContextConfig['auth'], boolean | 'optional' | undefined>>();
assertType<Equals<typeof named, typeof tokenGuard>>();

export async function build(): Promise<void> {
  const app = Fastify();
  await app.register(tokenGuard, { issuer: 'https://idp.example.com/', audience: 'orders-api', metrics: { path: '/metrics' } });
  const pre: preHandlerAsyncHookHandler = app.requireScopes('orders:read', { mode: 'any' });
  const pre2: preHandlerAsyncHookHandler = requireScopes(['a', 'b']);
  app.get('/orders', { preHandler: [pre, pre2] }, async (req) => req.auth?.subject);
  app.get('/orders2', { config: { scopes: ['orders:read'], scopeMode: 'all' } }, async (req) => req.auth?.clientId);
  app.get('/health', { config: { auth: false } }, async () => 'ok');
  app.get('/maybe', { config: { auth: 'optional' } }, async () => 'ok');
  // A typo such as `config: { scope: [...] }` type-checks (Fastify infers the route's own config type),
  // so the plugin refuses it at start-up instead (see packages/fastify/test).
  // @ts-expect-error scopes are strings
  app.get('/num', { config: { scopes: [1] } }, async () => 'x');
  // @ts-expect-error scopeMode is 'all' | 'any'
  app.get('/mode', { config: { scopes: ['a'], scopeMode: 'some' } }, async () => 'x');
  // @ts-expect-error hook is one of onRequest, preValidation, preHandler
  await app.register(tokenGuard, { issuer: 'i', audience: 'a', hook: 'onSend' });
}
