/** Tiny helpers for real HTTP servers on 127.0.0.1 port 0 in tests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1:0 and returns its base URL. `close()` also ends open sockets. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server = createServer(handler);
  return wrap(server);
}

/** Listens an existing server on 127.0.0.1:0. */
export async function wrap(server: Server): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Serves a JSON value that the test can swap at any time; counts requests. */
export async function jsonServer(initial: unknown): Promise<TestServer & { set(v: unknown): void; hits: () => number }> {
  let value = initial;
  let hits = 0;
  const s = await listen((_req, res) => {
    hits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(value));
  });
  return { ...s, set: (v) => (value = v), hits: () => hits };
}
