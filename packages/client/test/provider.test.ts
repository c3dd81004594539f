import { createTokenProvider, isTokenUnavailableError, TokenUnavailableError, type TokenEvent } from '@tokenguard/client';
import { decodeJwt } from 'jose';
import { listen, type TestServer } from '../../../test/helpers/http';
import { useFaultServer, type FaultServer } from './fault-server';

const { ep: server, make } = useFaultServer('s3cret-value');
let ep: FaultServer;
beforeAll(() => {
  ep = server();
});

/** Form-decodes one half of a Basic credential as a server would (RFC 6749 §2.3.1). */
const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));

describe('token request', () => {
  it('client_secret_basic form-encodes id and secret before base64 (RFC 6749 §2.3.1)', async () => {
    const clientId = 'svc:orders a+b/é%';
    const clientSecret = 'pa:ss wo+rd&=/ü%20';
    await make({ clientId, clientSecret, scopes: ['orders:read', 'orders:write'] }).getToken();
    const seen = ep.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.contentType).toBe('application/x-www-form-urlencoded');
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(seen.authorization ?? '');
    expect(m).not.toBeNull();
    const decoded = Buffer.from(m![1]!, 'base64').toString('utf8');
    // exactly one raw colon: the one between id and secret
    expect(decoded.split(':')).toHaveLength(2);
    const [id, secret] = decoded.split(':') as [string, string];
    expect(id).not.toContain(' ');
    expect(formDecode(id)).toBe(clientId);
    expect(formDecode(secret)).toBe(clientSecret);
    expect(seen.form.get('grant_type')).toBe('client_credentials');
    expect(seen.form.get('scope')).toBe('orders:read orders:write');
    expect(seen.form.has('client_secret')).toBe(false);
    expect(seen.form.has('client_id')).toBe(false);
  });

  it('client_secret_post sends id and secret in the body and no Authorization header', async () => {
    await make({ authMethod: 'client_secret_post', clientId: 'svc a', clientSecret: 'x:y z', scopes: 'a b' }).getToken();
    const seen = ep.requests[0]!;
    expect(seen.authorization).toBeUndefined();
    expect(seen.form.get('client_id')).toBe('svc a');
    expect(seen.form.get('client_secret')).toBe('x:y z');
    expect(seen.form.get('scope')).toBe('a b');
  });

  it('sends an absolute-URI audience as RFC 8707 resource and any other audience as audience', async () => {
    await make({ audience: 'https://orders.example/api' }).getToken();
    await make({ audience: 'orders-api' }).getToken();
    await make({ resource: ['https://a.example/', 'urn:b'], audience: 'https://c.example/' }).getToken();
    const [uri, plain, many] = ep.requests;
    expect(uri!.form.getAll('resource')).toEqual(['https://orders.example/api']);
    expect(uri!.form.has('audience')).toBe(false);
    expect(plain!.form.get('audience')).toBe('orders-api');
    expect(plain!.form.has('resource')).toBe(false);
    expect(many!.form.getAll('resource')).toEqual(['https://a.example/', 'urn:b', 'https://c.example/']);
    expect(many!.form.has('scope')).toBe(false);
  });
});

describe('cache and single flight', () => {
  it('serves the cached token without a second request', async () => {
    const tokens = make();
    const a = await tokens.getToken();
    const b = await tokens.getToken();
    expect(b).toBe(a);
    expect(ep.requests).toHaveLength(1);
    expect(ep.issued).toContain(a);
  });

  it('100 concurrent getToken() calls cause exactly one request', async () => {
    ep.setDefault({ kind: 'ok', ttl: 60, delayMs: 100 });
    const tokens = make();
    const all = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()));
    expect(new Set(all).size).toBe(1);
    expect(ep.requests).toHaveLength(1);
  });

  it('several providers share nothing: separate caches, separate requests', async () => {
    const a = make({ clientId: 'a', scopes: ['x'] });
    const b = make({ clientId: 'b', scopes: ['y'] });
    const [ta, tb] = await Promise.all([a.getToken(), b.getToken()]);
    expect(ta).not.toBe(tb);
    expect(ep.requests).toHaveLength(2);
    expect(ep.requests.map((r) => r.form.get('scope')).sort()).toEqual(['x', 'y']);
    await a.close();
    await expect(b.getToken()).resolves.toBe(tb);
  });

  it('refreshes ahead of expiry in the background while still serving the current token (regression: waited for the request, not the cached answer)', async () => {
    ep.setDefault({ kind: 'ok', ttl: 3 });
    const events: TokenEvent[] = [];
    const tokens = make({ refreshAhead: 0.3, refreshJitter: 0, onEvent: (e) => events.push(e) });
    const first = await tokens.getToken();
    // The refresh timer fires at ~30% of the lifetime; the token is still valid then. Wait for the refreshed
    // token to be cached (its token.fetched event), not merely for the endpoint to see the request: on a busy
    // machine the answer can still be on its way when the request is recorded.
    const fetched = (): number => events.filter((e) => e.type === 'token.fetched').length;
    const deadline = Date.now() + 2500;
    while (fetched() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ep.requests).toHaveLength(2);
    const second = await tokens.getToken();
    expect(second).not.toBe(first);
    expect(decodeJwt(first).exp! * 1000).toBeGreaterThan(Date.now());
    expect(events.filter((e) => e.type === 'token.fetched')).toHaveLength(2);
  });

  it('invalidate() drops the cached token so the next call fetches a new one', async () => {
    const tokens = make();
    const a = await tokens.getToken();
    tokens.invalidate('not-the-current-token');
    expect(await tokens.getToken()).toBe(a);
    tokens.invalidate(a);
    const b = await tokens.getToken();
    expect(b).not.toBe(a);
    expect(ep.requests).toHaveLength(2);
  });

  it('close() rejects later calls with code closed and aborts a request in flight', async () => {
    ep.setDefault({ kind: 'ok', delayMs: 2000 });
    const tokens = make({ timeout: '5s' });
    const pending = tokens.getToken();
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await tokens.close();
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(tokens.getToken()).rejects.toBeInstanceOf(TokenUnavailableError);
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'closed' });
  });
});

describe('discovery', () => {
  let idp: TestServer;
  let metadata: Record<string, unknown> = {};
  const hits: string[] = [];
  beforeAll(async () => {
    idp = await listen((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/tenant/.well-known/openid-configuration') {
        res.writeHead(404).end();
      } else if (req.url === '/.well-known/oauth-authorization-server/tenant') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(metadata));
      } else res.writeHead(404).end();
    });
  });
  afterAll(() => idp.close());

  it('finds token_endpoint through RFC 8414 metadata after OIDC discovery answers 404', async () => {
    metadata = { issuer: `${idp.url}/tenant`, token_endpoint: ep.tokenUrl };
    const tokens = make({ tokenUrl: undefined, issuer: `${idp.url}/tenant` });
    await tokens.getToken();
    await tokens.getToken();
    expect(hits).toEqual(['/tenant/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/tenant']);
    expect(ep.requests).toHaveLength(1);
  });

  it('tells a missing metadata document (not retried) from an unreachable issuer (retried)', async () => {
    const missing = (await make({ tokenUrl: undefined, issuer: `${idp.url}/nowhere` }).getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(missing).toMatchObject({ code: 'discovery_failed', status: 404, attempts: 1, retryable: false });
    expect(isTokenUnavailableError(missing)).toBe(true);
    const closed = await listen((_req, res) => res.end());
    await closed.close(); // nothing listens on its port any more
    const unreachable = (await make({ tokenUrl: undefined, issuer: closed.url }).getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(unreachable).toMatchObject({ code: 'discovery_failed', attempts: 4, retryable: true });
    expect(unreachable.message).toMatch(/ECONNREFUSED/);
    expect(isTokenUnavailableError(new Error('x'))).toBe(false);
  });

  it('refuses metadata that names another issuer', async () => {
    metadata = { issuer: 'http://evil.example', token_endpoint: ep.tokenUrl };
    const tokens = make({ tokenUrl: undefined, issuer: `${idp.url}/tenant` });
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'discovery_failed', message: expect.stringContaining('another issuer') });
    expect(ep.requests).toHaveLength(0);
  });

  it.each(['javascript:alert(1)', 'not a url', 42, 'http://user:pw@127.0.0.1/token'])('refuses the token_endpoint %j', async (endpoint) => {
    metadata = { issuer: `${idp.url}/tenant`, token_endpoint: endpoint };
    await expect(make({ tokenUrl: undefined, issuer: `${idp.url}/tenant` }).getToken()).rejects.toMatchObject({ code: 'discovery_failed', attempts: 1 });
  });
});

describe('options', () => {
  const base = { tokenUrl: 'http://127.0.0.1:1/token', clientId: 'c', clientSecret: 's' };
  it.each([
    [{ ...base, tokenUrl: undefined }, /exactly one of "tokenUrl" and "issuer"/],
    [{ ...base, issuer: 'http://127.0.0.1:1' }, /exactly one of/],
    [{ ...base, tokenUrl: 'ftp://x/token' }, /"tokenUrl" must be an absolute http/],
    [{ ...base, tokenUrl: 'http://user:pw@127.0.0.1/token' }, /must not carry credentials/],
    [{ ...base, clientId: '' }, /"clientId" must be a non-empty string/],
    [{ ...base, clientSecret: undefined }, /"clientSecret" must be a non-empty string/],
    [{ ...base, authMethod: 'private_key_jwt' }, /"authMethod"/],
    [{ ...base, scopes: ['a b'] }, /"scopes"/],
    [{ ...base, scopes: ['a"b'] }, /"scopes"/],
    [{ ...base, resource: 'orders' }, /"resource" must be absolute URIs/],
    [{ ...base, resource: 'https://x/#frag' }, /"resource"/],
    [{ ...base, audience: '' }, /"audience"/],
    [{ ...base, refreshAhead: 1.5 }, /"refreshAhead"/],
    [{ ...base, refreshAhead: 0.95, refreshJitter: 0.1 }, /"refreshAhead" ± "refreshJitter"/],
    [{ ...base, timeout: '5 parsecs' }, /"timeout"/],
    [{ ...base, retry: { retries: -1 } }, /"retry.retries"/],
    [{ ...base, retry: { maxDelay: 'soon' } }, /"retry.maxDelay"/],
    [{ ...base, extraParams: { client_secret: 'x' } }, /"extraParams.client_secret"/],
    [{ ...base, metrics: { prefix: 'bad prefix' } }, /"metrics.prefix"/],
    [{ ...base, metrics: { registry: {} } }, /"metrics.registry"/],
  ])('rejects bad options with a TypeError naming the option (%#)', (opts, message) => {
    expect(() => createTokenProvider(opts as never)).toThrow(TypeError);
    expect(() => createTokenProvider(opts as never)).toThrow(message);
  });

  it('warns once about a non-loopback http:// token endpoint, not about loopback', () => {
    const warnings: object[] = [];
    const logger = { warn: (o: object) => warnings.push(o) };
    make({ tokenUrl: 'http://10.0.0.1/token', logger });
    make({ tokenUrl: 'http://localhost:8080/token', logger });
    make({ tokenUrl: 'https://idp.example/token', logger });
    expect(warnings).toEqual([{ clientId: 'svc', tokenUrl: 'http://10.0.0.1/token' }]);
  });

  it('never puts the secret in a TypeError', () => {
    try {
      createTokenProvider({ ...base, clientSecret: 'top-secret-123', timeout: 'x' });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('top-secret-123');
    }
    expect.assertions(1);
  });
});
