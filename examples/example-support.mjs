/**
 * Shared by the Express, Koa and Fastify examples: settings from the environment, serving with a clean
 * shutdown, and, when `ISSUER` is not set, an embedded
 * `@tokenguard/issuer` token service on 127.0.0.1 (random port, in memory) with two clients, and a fresh
 * token for each so the example can print ready-to-run curl lines.
 *
 * The curl lines are the one place a token is printed, on purpose, for the person trying the example;
 * nothing else in the examples ever logs a token.
 */
import { createServer, Server } from 'node:http';
import { createIssuerServer, generateClientSecret, hashClientSecret } from '@tokenguard/issuer';

/** The two example clients and what they may do. */
const CLIENTS = [
  { clientId: 'orders-reader', scopes: ['orders:read'] },
  { clientId: 'orders-writer', scopes: ['orders:read', 'orders:write'] },
];

/**
 * Reads the example's settings from the environment.
 * @returns {{ issuer: string | undefined, audience: string, port: number, host: string }}
 */
export function settings() {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError('PORT must be a port number (0 picks a free one)');
  return {
    issuer: process.env.ISSUER || undefined,
    audience: process.env.AUDIENCE || 'orders-api',
    port,
    host: process.env.HOST || '127.0.0.1',
  };
}

/**
 * Starts the embedded token service.
 * @param {string} audience the audience its tokens carry
 * @returns {Promise<{ url: string, tokens: () => Promise<{ reader: string, writer: string }>, close: () => Promise<void> }>}
 */
export async function startDevIssuer(audience) {
  const secrets = Object.fromEntries(CLIENTS.map((c) => [c.clientId, generateClientSecret()]));
  const clients = await Promise.all(CLIENTS.map(async (c) => ({
    clientId: c.clientId,
    clientSecretHash: await hashClientSecret(secrets[c.clientId]),
    scopes: c.scopes,
    audiences: [audience],
  })));
  const server = await createIssuerServer({ listen: { host: '127.0.0.1', port: 0 }, tokens: { defaultTtl: '10m' }, clients });
  const token = async (clientId) => {
    const scope = CLIENTS.find((c) => c.clientId === clientId).scopes.join(' ');
    const res = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secrets[clientId]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`the embedded issuer refused a token: ${body.error}`);
    return body.access_token;
  };
  return {
    url: server.url,
    tokens: async () => ({ reader: await token('orders-reader'), writer: await token('orders-writer') }),
    close: () => server.close(),
  };
}

/**
 * Prints where the API listens and, with the embedded issuer, curl lines with fresh tokens (stdout only).
 * @param {string} name framework name
 * @param {string} url the API's base URL
 * @param {{ tokens: () => Promise<{ reader: string, writer: string }> } | undefined} dev the embedded issuer
 */
export async function announce(name, url, dev) {
  process.stdout.write(`orders API (${name}) listening on ${url}\n`);
  if (!dev) return;
  const { reader, writer } = await dev.tokens();
  process.stdout.write([
    'Try it (tokens valid 10 minutes; the only place this example prints a token):',
    `  curl -H "Authorization: Bearer ${reader}" ${url}/orders`,
    `  curl -X POST -H "Authorization: Bearer ${reader}" -H "content-type: application/json" -d '{"item":"tea"}' ${url}/orders   # 403: orders:read only`,
    `  curl -X POST -H "Authorization: Bearer ${writer}" -H "content-type: application/json" -d '{"item":"tea"}' ${url}/orders`,
    `  curl ${url}/metrics`,
    '',
  ].join('\n'));
}

/**
 * Ends the process with one line when the API cannot listen (most often: the port is taken), instead of a stack trace.
 * @param {{ port: number, host: string }} where
 * @returns {(err: Error & { code?: string }) => never}
 */
export function listenFailed({ port, host }) {
  return (err) => {
    const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (set PORT, or PORT=0 for a free one)` : err.message;
    process.stderr.write(`cannot listen: ${why}\n`);
    process.exit(1);
  };
}

/**
 * Closes everything on SIGINT/SIGTERM, then exits.
 * @param {Array<() => Promise<void>>} closers
 */
export function closeOnSignal(closers) {
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    for (const close of closers) await close().catch((err) => process.stderr.write(`shutdown: ${err.message}\n`));
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * Serves a Node request handler (Koa `app.callback()`) or a server made for one (Express: `createServer(app)`
 * of @tokenguard/express), closes it and `closers` on a signal, and announces it.
 * @param {string} name framework name
 * @param {import('node:http').Server | ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void)} handler
 * @param {{ port: number, host: string }} where
 * @param {{ tokens: () => Promise<{ reader: string, writer: string }>, close: () => Promise<void> } | undefined} dev
 * @param {Array<() => Promise<void>>} closers closed after the server, before the embedded issuer
 */
export async function serveNode(name, handler, { port, host }, dev, closers) {
  const server = handler instanceof Server ? handler : createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  }).catch(listenFailed({ port, host }));
  closeOnSignal([
    () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    ...closers,
    ...(dev ? [() => dev.close()] : []),
  ]);
  await announce(name, `http://${host}:${server.address().port}`, dev);
}
