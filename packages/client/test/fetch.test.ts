import { TokenUnavailableError } from '@tokenguard/client';
import { listen, type TestServer } from '../../../test/helpers/http';
import { useFaultServer, type FaultServer } from './fault-server';

const { ep: server, make } = useFaultServer();
let ep: FaultServer;
let api: TestServer;
const revoked = new Set<string>();
let seen: { url: string; method: string; auth: string; body: string; xTrace: string | undefined }[] = [];

beforeAll(async () => {
  ep = server();
  // A downstream API: accepts issued, unrevoked tokens; a few paths answer fixed errors.
  api = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      seen.push({ url: req.url ?? '', method: req.method ?? '', auth, body: Buffer.concat(chunks).toString(), xTrace: req.headers['x-trace'] as string | undefined });
      const token = auth.replace(/^Bearer /, '');
      if (req.url === '/forbidden') {
        res.writeHead(403, { 'www-authenticate': 'Bearer realm="api", error="insufficient_scope", scope="admin"' }).end('{}');
      } else if (req.url === '/no-error-401') {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="api"' }).end('{}');
      } else if (req.url === '/dpop-only') {
        res.writeHead(401, { 'www-authenticate': 'DPoP algs="ES256", error="invalid_token", Basic realm="x"' }).end('{}');
      } else if (req.url === '/always-invalid') {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="api", error="invalid_token"' }).end('{}');
      } else if (!ep.issued.includes(token) || revoked.has(token)) {
        const challenge = CHALLENGES[req.url ?? ''] ?? 'Bearer realm="api", error="invalid_token", error_description="revoked"';
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
    });
  });
});
afterEach(() => {
  seen = [];
  revoked.clear();
});
afterAll(() => api.close());

/** Odd but valid WWW-Authenticate values (RFC 9110 §11.6.1) that do carry a Bearer invalid_token challenge. */
const CHALLENGES: Record<string, string> = {
  '/dpop-first': 'DPoP algs="ES256", Bearer realm="api", error="invalid_token", error_description="The token, was revoked"',
  '/bare-scheme-first': 'Negotiate, bearer error=invalid_token',
  '/token68-first': 'Basic YWxhZGRpbjpvcGVuc2VzYW1l, Bearer  realm = "a \\"quoted\\" realm" , error = "invalid_token"',
};

const bearerOf = (i: number): string => seen[i]!.auth.replace(/^Bearer /, '');

describe('tokens.fetch', () => {
  it('adds the bearer and keeps method, headers and body', async () => {
    const tokens = make();
    const res = await tokens.fetch(`${api.url}/orders`, { method: 'POST', headers: { 'x-trace': 't1' }, body: 'a=1' });
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', body: 'a=1', xTrace: 't1' });
    expect(bearerOf(0)).toBe(await tokens.getToken());
  });

  it('takes a Request and keeps its headers', async () => {
    const tokens = make();
    const res = await tokens.fetch(new Request(`${api.url}/orders`, { headers: { 'x-trace': 't2', authorization: 'Bearer stale' } }));
    expect(res.status).toBe(200);
    expect(seen[0]!.xTrace).toBe('t2');
    expect(bearerOf(0)).toBe(ep.issued[0]);
  });

  it.each([
    ['a string', () => 'payload=1'],
    ['URLSearchParams', () => new URLSearchParams({ payload: '1' })],
    ['a Buffer', () => Buffer.from('payload=1')],
    ['no body', () => undefined],
  ])('on 401 invalid_token gets a new token and retries once, replaying %s', async (_name, body) => {
    const tokens = make();
    const first = await tokens.getToken();
    revoked.add(first);
    const b = body();
    const res = await tokens.fetch(`${api.url}/orders`, { method: b === undefined ? 'GET' : 'POST', body: b });
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(2);
    expect(bearerOf(0)).toBe(first);
    expect(bearerOf(1)).not.toBe(first);
    expect(seen[1]!.body).toBe(seen[0]!.body);
    expect(ep.requests).toHaveLength(2);
  });

  it.each(Object.keys(CHALLENGES))('finds the Bearer invalid_token challenge among several challenges (%s)', async (path) => {
    const tokens = make();
    revoked.add(await tokens.getToken());
    expect((await tokens.fetch(`${api.url}${path}`)).status).toBe(200);
    expect(seen).toHaveLength(2);
  });

  it('does not take another scheme\'s invalid_token for a Bearer one', async () => {
    const tokens = make();
    revoked.add(await tokens.getToken());
    expect((await tokens.fetch(`${api.url}/dpop-only`)).status).toBe(401);
    expect(seen).toHaveLength(1);
  });

  it('retries only once: a second 401 is returned as it is', async () => {
    const tokens = make();
    const res = await tokens.fetch(`${api.url}/always-invalid`);
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(2);
    expect(ep.requests).toHaveLength(2);
  });

  it('a downstream rejecting every token costs at most one forced refresh per forcedRefreshCooldown', async () => {
    const tokens = make({ forcedRefreshCooldown: '300ms' });
    for (let i = 0; i < 10; i++) expect((await tokens.fetch(`${api.url}/always-invalid`)).status).toBe(401);
    expect(ep.requests).toHaveLength(2); // the first token and one forced refresh
    expect(seen).toHaveLength(11); // only the first call was retried
    await new Promise((r) => setTimeout(r, 350));
    await tokens.fetch(`${api.url}/always-invalid`);
    expect(ep.requests).toHaveLength(3);
    expect(seen).toHaveLength(13);
  });

  it('never retries a 403', async () => {
    const tokens = make();
    const res = await tokens.fetch(`${api.url}/forbidden`);
    expect(res.status).toBe(403);
    expect(seen).toHaveLength(1);
    expect(ep.requests).toHaveLength(1);
  });

  it('does not retry a 401 without error="invalid_token"', async () => {
    const res = await make().fetch(`${api.url}/no-error-401`);
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(1);
    expect(ep.requests).toHaveLength(1);
  });

  it('does not retry when the body cannot be sent again (a stream)', async () => {
    const tokens = make();
    revoked.add(await tokens.getToken());
    const stream = new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode('x=1')); c.close(); } });
    const res = await tokens.fetch(`${api.url}/orders`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(1);
    expect(ep.requests).toHaveLength(1);
  });

  it('20 concurrent calls rejected with the same token cause one refresh', async () => {
    ep.setDefault({ kind: 'ok', ttl: 60, delayMs: 30 });
    const tokens = make();
    revoked.add(await tokens.getToken());
    const statuses = await Promise.all(Array.from({ length: 20 }, () => tokens.fetch(`${api.url}/orders`).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(ep.requests).toHaveLength(2);
    expect(seen).toHaveLength(40);
  });

  it('rejects with TokenUnavailableError and calls nothing when no token can be had', async () => {
    ep.setDefault({ kind: 'status', status: 401, body: { error: 'invalid_client' } });
    await expect(make().fetch(`${api.url}/orders`)).rejects.toBeInstanceOf(TokenUnavailableError);
    expect(seen).toHaveLength(0);
  });
});
