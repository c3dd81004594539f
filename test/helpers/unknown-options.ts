/**
 * Shared assertions for the adapters' unknown-option regression tests: a misspelt option passed through a
 * synchronous `tokenGuard(options)` (Express, Koa) throws a TypeError naming it; the adapter's own
 * `passErrors` is accepted.
 */
import { Registry } from 'prom-client';
import { jwks, type TestKey } from './keys';

/** A guard as the Express and Koa adapters return it (only `close` is needed here). */
interface Closable {
  close(): Promise<void>;
}

/**
 * Runs the unknown-option assertions against `tokenGuard` of one adapter.
 * @example
 * await expectUnknownOptionsRejected((o) => tokenGuard(o as TokenGuardOptions), key);
 */
export async function expectUnknownOptionsRejected(tokenGuard: (options: Record<string, unknown>) => Closable, key: TestKey): Promise<void> {
  const base = { issuer: 'https://idp.adapter.test/', audience: 'orders-api', keys: jwks(key), metrics: { registry: new Registry() } };
  expect(() => tokenGuard({ ...base, audiance: 'y' })).toThrow(/unknown option "audiance" \(did you mean "audience"\?\)/);
  expect(() => tokenGuard({ ...base, passError: true })).toThrow(/unknown option "passError" \(did you mean "passErrors"\?\)/);
  expect(() => tokenGuard({ ...base, jwks: { cooldwn: '1s' } })).toThrow(/unknown option "jwks\.cooldwn" \(did you mean "jwks\.cooldown"\?\)/);
  expect(() => tokenGuard({ ...base, hook: 'onRequest' })).toThrow(/"hook": it is an option of the Fastify plugin/);
  expect(() => tokenGuard({ ...base, hook: 'onRequest' })).toThrow(TypeError);
  const guard = tokenGuard({ ...base, passErrors: true });
  await guard.close();
}
