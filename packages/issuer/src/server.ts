import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveConfig, type IssuerConfig } from './config.js';
import { buildIssuer, type Issuer } from './issuer.js';
import { sendJson } from './lib/http.js';

/** A listening issuer. */
export interface IssuerServer extends Issuer {
  /** The server's own URL, e.g. `http://127.0.0.1:4000` (with port 0, the port picked). */
  readonly url: string;
  /** The node:http server. */
  readonly server: Server;
  /** Stops listening, ends open connections, stops the rotation timer and closes the store it opened. */
  close(): Promise<void>;
}

/** The URL a server listening on `host:port` is called at (a wildcard address is named by its loopback). */
export function urlOf(host: string, port: number): string {
  // A wildcard address is not a URL anyone can call: name the loopback instead (set `issuer` in production).
  const name = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/**
 * Starts the token service. `issuer` defaults to the server's own URL, byte for byte the metadata `issuer` and
 * every token's `iss`. Rejects with a `TypeError` naming a bad option, or the listen error.
 * @example
 * const server = await createIssuerServer({ listen: { port: 0 }, clients: [...] });
 * console.log(server.url); await server.rotateKeys(); await server.close();
 */
export async function createIssuerServer(config: IssuerConfig = {}): Promise<IssuerServer> {
  const cfg = resolveConfig(config);
  let issuer: Issuer | undefined;
  const server = createServer((req, res) => {
    if (issuer) return issuer.handle(req, res);
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'the issuer is starting' }, { 'retry-after': '1' });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 20_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const url = urlOf(cfg.host, (server.address() as AddressInfo).port);
  try {
    issuer = await buildIssuer(cfg, cfg.issuer ?? url);
  } catch (err) {
    await closeServer();
    throw err;
  }
  const inner = issuer;
  return {
    ...inner,
    url,
    server,
    async close() {
      await closeServer();
      await inner.close();
    },
  };
}
