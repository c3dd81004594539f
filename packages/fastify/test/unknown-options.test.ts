/**
 * Regression: a misspelt option passed through the Fastify plugin (`audiance`, `metrics.pth`) used to be
 * accepted silently. The plugin's own options (`hook`, `passErrors`, `metrics.path`) are stripped before the
 * core checks the rest.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import tokenGuard, { type FastifyTokenGuardOptions } from '@tokenguard/fastify';
import { makeKey, jwks, type TestKey } from '../../../test/helpers/keys';

let key: TestKey;
const apps: FastifyInstance[] = [];
beforeAll(async () => {
  key = await makeKey('ES256');
});
afterAll(async () => {
  for (const app of apps) await app.close();
});

function register(extra: Record<string, unknown>) {
  const app = Fastify({ logger: false });
  apps.push(app);
  const options = { issuer: 'https://idp.fastify.test/', audience: 'orders-api', keys: jwks(key), metrics: { registry: new Registry() }, ...extra } as FastifyTokenGuardOptions;
  return app.register(tokenGuard, options).ready();
}

describe('tokenGuard (fastify) unknown options', () => {
  it('rejects a misspelt option with a TypeError naming it, at the top level and nested', async () => {
    await expect(register({ audiance: 'y' })).rejects.toThrow(/unknown option "audiance" \(did you mean "audience"\?\)/);
    await expect(register({ hok: 'onRequest' })).rejects.toThrow(/unknown option "hok" \(did you mean "hook"\?\)/);
    await expect(register({ metrics: { registry: new Registry(), pth: '/metrics' } })).rejects.toThrow(/unknown option "metrics\.pth" \(did you mean "metrics\.path"\?\)/);
    await expect(register({ cache: { maxEntry: 5 } })).rejects.toThrow(/unknown option "cache\.maxEntry"/);
  });

  it('accepts its own options: hook, passErrors, metrics.path', async () => {
    await expect(register({ hook: 'onRequest', passErrors: true, metrics: { registry: new Registry(), prefix: 'x_', path: '/metrics' } })).resolves.toBeDefined();
  });

  it("accepts Fastify's own registration options (prefix, logLevel), which every plugin is handed", async () => {
    await expect(register({ prefix: '/api', logLevel: 'warn' })).resolves.toBeDefined();
  });
});
