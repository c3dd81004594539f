/**
 * The orders API on Koa + @koa/router, guarded by @tokenguard/koa.
 *   pnpm build && node examples/koa/server.mjs
 * Env: ISSUER (unset: an embedded dev token service), AUDIENCE (orders-api), PORT (3000), HOST (127.0.0.1).
 */
import Koa from 'koa';
import Router from '@koa/router';
import { tokenGuard, requireScopes, metricsHandler } from '@tokenguard/koa';
import { serveNode, settings, startDevIssuer } from '../example-support.mjs';

const { issuer, audience, ...where } = settings();
const dev = issuer ? undefined : await startDevIssuer(audience);
const guard = tokenGuard({ issuer: issuer ?? dev.url, audience });
const orders = [];

const open = new Router();
open.get('/health', (ctx) => { ctx.body = { status: 'ok' }; });
open.get('/metrics', metricsHandler());

const api = new Router();
api.get('/orders', requireScopes('orders:read'), (ctx) => { ctx.body = { orders }; });
api.post('/orders', requireScopes('orders:write'), async (ctx) => {
  const body = await readJson(ctx);
  const order = { id: orders.length + 1, item: String(body.item ?? 'unnamed').slice(0, 100), by: ctx.state.auth.clientId };
  orders.push(order);
  ctx.status = 201;
  ctx.body = order;
});

/** Koa has no body parser built in; this one reads at most 16 KiB of JSON. */
async function readJson(ctx) {
  if (!ctx.is('application/json')) return {};
  let text = '';
  for await (const chunk of ctx.req) {
    text += chunk;
    if (text.length > 16_384) ctx.throw(413);
  }
  try { return JSON.parse(text) ?? {}; } catch { ctx.throw(400, 'invalid JSON'); }
}

const app = new Koa();
// Body errors (malformed JSON: 400, over 16 KiB: 413) answered as JSON, like every other answer of this API.
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    if (!err?.expose || !(err.status >= 400 && err.status < 500)) throw err;
    ctx.status = err.status;
    ctx.body = { error: 'invalid_request', error_description: err.status === 413 ? 'request body too large' : 'malformed request body' };
  }
});
app.use(open.routes());
app.use(guard);
app.use(api.routes());
app.use(api.allowedMethods());

await serveNode('koa', app.callback(), where, dev, [() => guard.close()]);
