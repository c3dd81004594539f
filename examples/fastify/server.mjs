/**
 * The orders API on Fastify, guarded by @tokenguard/fastify.
 *   pnpm build && node examples/fastify/server.mjs
 * Env: ISSUER (unset: an embedded dev token service), AUDIENCE (orders-api), PORT (3000), HOST (127.0.0.1).
 */
import Fastify from 'fastify';
import tokenGuard from '@tokenguard/fastify';
import { announce, closeOnSignal, listenFailed, settings, startDevIssuer } from '../example-support.mjs';

const { issuer, audience, port, host } = settings();
const dev = issuer ? undefined : await startDevIssuer(audience);
const orders = [];

const app = Fastify({ logger: false, bodyLimit: 16_384 });
// Registered first: every route after it is guarded unless it opts out.
await app.register(tokenGuard, { issuer: issuer ?? dev.url, audience, metrics: { path: '/metrics' } });
app.get('/health', { config: { auth: false } }, async () => ({ status: 'ok' }));
app.get('/orders', { config: { scopes: ['orders:read'] } }, async () => ({ orders }));
app.post('/orders', { preHandler: app.requireScopes('orders:write') }, async (request, reply) => {
  const order = { id: orders.length + 1, item: String(request.body?.item ?? 'unnamed').slice(0, 100), by: request.auth.clientId };
  orders.push(order);
  return reply.code(201).send(order);
});

await app.listen({ port, host }).catch(listenFailed({ port, host }));
await announce('fastify', `http://${host}:${app.server.address().port}`, dev);
closeOnSignal([() => app.close(), ...(dev ? [() => dev.close()] : [])]);
