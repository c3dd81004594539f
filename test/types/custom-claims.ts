/**
 * Type tests: users merge their own claims into `CustomClaims`, and `auth.claims.tenant` is typed in every
 * adapter (`req.auth`, `ctx.state.auth`, `request.auth`).
 */
import type { Request } from 'express';
import type { ParameterizedContext } from 'koa';
import type { FastifyRequest } from 'fastify';
import type { AuthInfo } from '@tokenguard/core';
import '@tokenguard/express';
import '@tokenguard/koa';
import '@tokenguard/fastify';
import { assertType, type Equals } from './equals';

declare module '@tokenguard/core' {
  interface CustomClaims {
    tenant: string;
    roles: readonly string[];
  }
}

declare const _auth: AuthInfo;
// Claims come from outside: a declared claim is optional until checked.
assertType<Equals<typeof _auth.claims.tenant, string | undefined>>();
assertType<Equals<typeof _auth.claims.roles, readonly string[] | undefined>>();
// Registered claims keep their jose types.
assertType<Equals<typeof _auth.claims.exp, number | undefined>>();

declare const req: Request;
declare const ctx: ParameterizedContext;
declare const request: FastifyRequest;
const a: string | undefined = req.auth?.claims.tenant;
const b: string | undefined = ctx.state.auth?.claims.tenant;
const c: string | undefined = request.auth?.claims.tenant;
// @ts-expect-error tenant is a string, not a number
const d: number | undefined = req.auth?.claims.tenant;
void [a, b, c, d];
