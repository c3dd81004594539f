/**
 * RFC 6750 transport through a real node:http server on 127.0.0.1: header variants, doubled headers (only
 * visible in rawHeaders), query and form-body tokens, and the answers (status, code, challenge).
 */
import { connect } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { createTokenVerifier, errorResponse, extractToken, isTokenError, parseAuthorization, TokenError, type AuditEvent, type TokenVerifier } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';
import { listen, type TestServer } from '../../../test/helpers/http';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

interface Answer { status: number; body: Record<string, unknown>; headers: Record<string, string> }

/** Sends raw HTTP/1.1 text (so duplicate or odd headers reach the server as written). */
function raw(url: string, text: string): Promise<Answer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('timeout')); }, 3000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        const res = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = res.split('\r\n\r\n');
        const lines = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
        resolve({ status: Number(lines[0]!.split(' ')[1]), body: body ? JSON.parse(body) : {}, headers });
      } catch (err) {
        reject(err);
      }
    });
    socket.write(text);
  });
}

function request(url: string, path: string, headers: string[] = [], opts: { method?: string; body?: string; type?: string } = {}): Promise<Answer> {
  const method = opts.method ?? 'GET';
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers];
  if (opts.body !== undefined) lines.push(`Content-Type: ${opts.type ?? 'application/x-www-form-urlencoded'}`, `Content-Length: ${Buffer.byteLength(opts.body)}`);
  return raw(url, `${lines.join('\r\n')}\r\n\r\n${opts.body ?? ''}`);
}

function formObject(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

describe('bearer token transport (RFC 6750) over real HTTP', () => {
  let key: TestKey;
  let token: string;
  let server: TestServer;
  const verifiers: Record<string, TokenVerifier> = {};

  beforeAll(async () => {
    key = await makeKey('ES256');
    token = await signToken(key, { iss: ISS, aud: AUD, sub: 'svc' });
    const keys = jwks(key) as never;
    const common = { issuer: ISS, audience: AUD, keys, metrics: false as const };
    verifiers.default = createTokenVerifier(common);
    verifiers.query = createTokenVerifier({ ...common, allowQueryToken: true });
    verifiers.optional = createTokenVerifier({ ...common, credentialsRequired: false });
    verifiers.nobody = createTokenVerifier({ ...common, allowBodyToken: false });
    verifiers.realm = createTokenVerifier({ ...common, realm: 'orders' });
    verifiers.cookie = createTokenVerifier({ ...common, getToken: (req) => /(?:^|; )at=([^;]+)/.exec(String(req.headers.cookie ?? ''))?.[1] });
    verifiers.throwing = createTokenVerifier({ ...common, getToken: () => { throw new Error('boom'); } });
    server = await listen((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const type = String(req.headers['content-type'] ?? '');
        const body = type.startsWith('application/x-www-form-urlencoded') ? formObject(text) : text ? JSON.parse(text) : undefined;
        const name = (req.url ?? '/').split('?')[0]!.slice(1);
        const view = Object.assign(req, { body });
        verifiers[name]!.verifyRequest(view).then((auth) => {
          const text = JSON.stringify({ sub: auth?.subject ?? null });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        }, (err: unknown) => {
          if (!isTokenError(err)) { res.statusCode = 500; res.end('{}'); return; }
          const r = errorResponse(err);
          const text = JSON.stringify(r.body);
          res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        });
      });
    });
  });
  afterAll(async () => {
    await server.close();
    await Promise.all(Object.values(verifiers).map((v) => v.close()));
  });

  const H = (v: string) => [`Authorization: ${v}`];
  it.each([
    ['Bearer <t>', () => H(`Bearer ${token}`), 200, undefined],
    ['bearer <t>', () => H(`bearer ${token}`), 200, undefined],
    ['BEARER <t>', () => H(`BEARER ${token}`), 200, undefined],
    ['Bearer with several spaces', () => H(`Bearer    ${token}`), 200, undefined],
    ['Bearer with a tab', () => H(`Bearer\t${token}`), 400, 'invalid_request'],
    ['Bearer with a colon', () => H(`Bearer: ${token}`), 400, 'invalid_request'],
    ['quoted token', () => H(`Bearer "${token}"`), 400, 'invalid_request'],
    ['two tokens in one header', () => H(`Bearer ${token} ${token}`), 400, 'invalid_request'],
    ['a comma list', () => H(`Bearer ${token}, Bearer ${token}`), 400, 'invalid_request'],
    ['Bearer without a token', () => H('Bearer'), 400, 'invalid_request'],
    ['Bearer and spaces only', () => H('Bearer    '), 400, 'invalid_request'],
    ['empty Authorization', () => H(''), 400, 'invalid_request'],
    ['token with a non-b64token character', () => H(`Bearer ${token}\u00e9`), 400, 'invalid_request'],
    ['two Authorization headers', () => [`Authorization: Bearer ${token}`, `Authorization: Bearer ${token}`], 400, 'invalid_request'],
    ['two Authorization headers, differing case', () => [`Authorization: Bearer ${token}`, `authorization: Basic dTpw`], 400, 'invalid_request'],
    ['no Authorization header', () => [], 401, 'token_missing'],
    ['Basic', () => H('Basic dXNlcjpwYXNz'), 401, 'token_missing'],
    ['Token scheme', () => H(`Token ${token}`), 401, 'token_missing'],
    ['DPoP scheme (DPoP off)', () => H(`DPoP ${token}`), 401, 'token_missing'],
    ['a garbage token', () => H('Bearer abc.def.ghi'), 401, 'token_malformed'],
  ] as const)('%s', async (_n, headers, status, code) => {
    const r = await request(server.url, '/default', headers());
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(code);
    if (code === 'token_missing') {
      expect(r.headers['www-authenticate']).toBe('Bearer realm="api"');
      expect(r.body.error).toBeUndefined();
    } else if (code !== undefined) {
      expect(r.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="api", error="${code === 'invalid_request' ? 'invalid_request' : 'invalid_token'}"`));
      expect(r.body.error).toBe(code === 'invalid_request' ? 'invalid_request' : 'invalid_token');
    }
  });

  const form = (t: string) => `access_token=${t}`;
  it.each([
    ['query token when query tokens are off', '/default', () => [`?access_token=${token}`, [], undefined], 400, 'invalid_request'],
    ['query token with allowQueryToken', '/query', () => [`?access_token=${token}`, [], undefined], 200, undefined],
    ['header + query', '/query', () => [`?access_token=${token}`, H(`Bearer ${token}`), undefined], 400, 'invalid_request'],
    ['repeated access_token in the query', '/query', () => [`?access_token=${token}&access_token=${token}`, [], undefined], 400, 'invalid_request'],
    ['bracketed access_token[] in the query', '/query', () => [`?access_token[]=${token}`, [], undefined], 400, 'invalid_request'],
    ['bracketed access_token[0] in the query', '/query', () => [`?access_token%5B0%5D=${token}`, [], undefined], 400, 'invalid_request'],
    ['empty access_token in the query', '/query', () => ['?access_token=', [], undefined], 400, 'invalid_request'],
    ['form body token (POST)', '/default', () => ['', [], { method: 'POST', body: form(token) }], 200, undefined],
    ['form body token on PUT with charset', '/default', () => ['', [], { method: 'PUT', body: form(token), type: 'application/x-www-form-urlencoded; charset=utf-8' }], 200, undefined],
    ['header + form body', '/default', () => ['', H(`Bearer ${token}`), { method: 'POST', body: form(token) }], 400, 'invalid_request'],
    ['query + form body', '/query', () => [`?access_token=${token}`, [], { method: 'POST', body: form(token) }], 400, 'invalid_request'],
    ['repeated access_token in the body', '/default', () => ['', [], { method: 'POST', body: `${form(token)}&${form(token)}` }], 400, 'invalid_request'],
    ['bracketed access_token in the body', '/default', () => ['', [], { method: 'POST', body: `access_token[x]=${token}` }], 400, 'invalid_request'],
    ['form body token on GET is no token', '/default', () => ['', [], { method: 'GET', body: form(token) }], 401, 'token_missing'],
    ['JSON body token is no token', '/default', () => ['', [], { method: 'POST', body: JSON.stringify({ access_token: token }), type: 'application/json' }], 401, 'token_missing'],
    ['multipart body token is no token', '/default', () => ['', [], { method: 'POST', body: JSON.stringify({ access_token: token }), type: 'multipart/form-data; boundary=x' }], 401, 'token_missing'],
    ['body tokens off', '/nobody', () => ['', [], { method: 'POST', body: form(token) }], 401, 'token_missing'],
    ['optional: nothing sent', '/optional', () => ['', [], undefined], 200, undefined],
    ['optional: Basic sent', '/optional', () => ['', H('Basic dTpw'), undefined], 200, undefined],
    ['optional: a bad token is still rejected', '/optional', () => ['', H('Bearer a.b.c'), undefined], 401, 'token_malformed'],
    ['optional: a malformed header is still rejected', '/optional', () => ['', H('Bearer\ta'), undefined], 400, 'invalid_request'],
    ['custom getToken from a cookie', '/cookie', () => ['', [`Cookie: x=1; at=${token}`], undefined], 200, undefined],
    ['custom getToken, no cookie', '/cookie', () => ['', H(`Bearer ${token}`), undefined], 401, 'token_missing'],
    ['custom getToken that throws', '/throwing', () => ['', [], undefined], 400, 'invalid_request'],
  ] as const)('%s', async (_n, path, build, status, code) => {
    const [query, headers, opts] = build() as unknown as [string, string[], { method?: string; body?: string; type?: string } | undefined];
    const r = await request(server.url, `${path}${query}`, [...headers], opts ?? {});
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(code);
    if (status === 200) expect(r.body.sub).toBe(path === '/optional' ? null : 'svc');
  });

  it('says why a query token is refused', async () => {
    const r = await request(server.url, `/default?access_token=${token}`);
    expect(String(r.body.error_description)).toMatch(/query/i);
    expect(String(r.body.error_description)).not.toContain(token.slice(0, 12));
  });

  it('uses the configured realm in challenges', async () => {
    const r = await request(server.url, '/realm', H('Basic dTpw'));
    expect(r.headers['www-authenticate']).toBe('Bearer realm="orders"');
    const r2 = await request(server.url, '/realm', H('Bearer a.b.c'));
    expect(r2.headers['www-authenticate']).toMatch(/^Bearer realm="orders", error="invalid_token"/);
  });
});

describe('extractToken on plain request objects', () => {
  it('reads headers of any case, headersDistinct, and parsed query objects', () => {
    expect(extractToken({ headers: { Authorization: 'Bearer abc' } })).toBe('abc');
    expect(() => extractToken({ headers: { authorization: 'Bearer a' }, headersDistinct: { authorization: ['Bearer a', 'Bearer b'] } } as never)).toThrow(TokenError);
    expect(() => extractToken({ headers: { authorization: ['Bearer a', 'Bearer b'] } })).toThrow(/More than one Authorization/);
    expect(extractToken({ headers: {}, query: { access_token: 'q1' } }, { allowQueryToken: true })).toBe('q1');
    expect(extractToken({ headers: {}, query: new URLSearchParams('access_token=q2') }, { allowQueryToken: true })).toBe('q2');
    expect(extractToken({ headers: {}, query: '?access_token=q3' }, { allowQueryToken: true })).toBe('q3');
    expect(() => extractToken({ headers: {}, query: { access_token: { x: 'q' } } }, { allowQueryToken: true })).toThrow(/malformed/);
    expect(() => extractToken({ headers: {}, query: { 'access_token[]': 'q' } }, { allowQueryToken: true })).toThrow(/malformed/);
    expect(extractToken({ headers: {}, query: { access_token: ['q4'] } }, { allowQueryToken: true })).toBe('q4');
    expect(extractToken({ headers: {}, url: '/x?a=1#access_token=frag' })).toBeUndefined();
    expect(extractToken({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', body: 'access_token=b1' })).toBe('b1');
    expect(extractToken({ headers: { 'content-type': ['application/x-www-form-urlencoded'] } as never, method: 'POST', body: Buffer.from('access_token=b1') })).toBeUndefined();
    expect(extractToken({ headers: {}, method: 'POST', body: { access_token: 'b2' } })).toBeUndefined();
  });

  it('parseAuthorization separates schemes', () => {
    expect(parseAuthorization('Bearer abc')).toBe('abc');
    expect(parseAuthorization('Bearerish abc')).toBeUndefined();
    expect(parseAuthorization('Basic abc')).toBeUndefined();
    expect(() => parseAuthorization('Bearer,abc')).toThrow(TokenError);
  });

  it('verifyRequest reads a Fetch-API Headers object (a Fetch Request), which used to read as no token', async () => {
    const key = await makeKey('ES256');
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'fetch-user' });
    const ok = new Request('http://127.0.0.1/orders', { headers: { Authorization: `Bearer ${token}` } });
    expect((await v.verifyRequest(ok as never))?.subject).toBe('fetch-user');
    await expect(v.verifyRequest(new Request('http://127.0.0.1/orders') as never)).rejects.toMatchObject({ code: 'token_missing', status: 401 });
    const doubled = new Headers();
    doubled.append('authorization', `Bearer ${token}`);
    doubled.append('authorization', `Bearer ${token}`);
    await expect(v.verifyRequest({ headers: doubled } as never)).rejects.toMatchObject({ code: 'invalid_request', status: 400 });
    const form = new Headers({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(extractToken({ headers: form as never, method: 'POST', body: 'access_token=b3' })).toBe('b3');
    await v.close();
  });

  it('verifyRequest refuses a non-object request with invalid_request', async () => {
    const key = await makeKey('ES256');
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false });
    await expect(v.verifyRequest(null as never)).rejects.toMatchObject({ code: 'invalid_request', status: 400 });
    await v.close();
  });
});

describe('a header token’s characters: checked only when the token fails, with the same answers', () => {
  let key: TestKey;
  let token: string;
  const events: AuditEvent[] = [];
  const verifiers: Record<string, TokenVerifier> = {};
  const req = (authorization: string, extra: Record<string, unknown> = {}) => ({ headers: { authorization }, rawHeaders: ['Authorization', authorization], method: 'GET', url: '/', ...extra });
  const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (err: TokenError) => `${err.status} ${err.code}: ${err.description}`);

  beforeAll(async () => {
    key = await makeKey('ES256');
    token = await signToken(key, { iss: ISS, aud: AUD, sub: 'svc' });
    const common = { issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false as const, onEvent: (e: AuditEvent) => events.push(e) };
    verifiers.cached = createTokenVerifier(common);
    verifiers.uncached = createTokenVerifier({ ...common, cache: false });
    verifiers.query = createTokenVerifier({ ...common, allowQueryToken: true });
    await verifiers.cached!.verify(token);
  });
  afterAll(() => Promise.all(Object.values(verifiers).map((v) => v.close())));

  const MALFORMED_HEADER = '400 invalid_request: The Authorization header is malformed';
  const MALFORMED_TOKEN = /^401 token_malformed: /;
  it.each([
    ['a valid token', (t: string) => t, 'ok'],
    ['% at the end', (t: string) => `${t}%`, MALFORMED_HEADER],
    ['% in the payload', (t: string) => t.replace('.', '.%'), MALFORMED_HEADER],
    ['$ at the start', (t: string) => `$${t}`, MALFORMED_HEADER],
    ['a non-ASCII character', (t: string) => `${t}\u00e9`, MALFORMED_HEADER],
    ['a NUL in the signature', (t: string) => `${t.slice(0, -4)}\u0000${t.slice(-3)}`, MALFORMED_HEADER],
    ['a fourth segment with a bad character', (t: string) => `${t}.a%b`, MALFORMED_HEADER],
    ['far too long, with a bad character', (t: string) => `${t}${'%'.repeat(20_000)}`, MALFORMED_HEADER],
    // b64token allows these, strict base64url does not: a malformed token (401), not a malformed header.
    ['padding at the end', (t: string) => `${t}=`, MALFORMED_TOKEN],
    ['~ at the end', (t: string) => `${t}~`, MALFORMED_TOKEN],
    ['+ in the signature', (t: string) => `${t.slice(0, -2)}+${t.slice(-1)}`, MALFORMED_TOKEN],
  ] as const)('%s', async (_n, make, expected) => {
    const sent = make(token);
    // The public extractor checks eagerly: it refuses exactly the tokens the verifier answers with a 400.
    let extracted = 'ok';
    try {
      extractToken(req(`Bearer ${sent}`));
    } catch (err) {
      extracted = `${(err as TokenError).status} ${(err as TokenError).code}: ${(err as TokenError).description}`;
    }
    expect(extracted === MALFORMED_HEADER).toBe(expected === MALFORMED_HEADER);
    for (const name of ['cached', 'uncached', 'query']) {
      const before = events.length;
      const got = await outcome(verifiers[name]!.verifyRequest(req(`Bearer ${sent}`)));
      if (typeof expected === 'string') expect(got).toBe(expected);
      else expect(got).toMatch(expected);
      // One event per rejection; a malformed header names nothing of the token (no fingerprint, issuer or kid).
      const mine = events.slice(before);
      if (expected === 'ok') {
        expect(mine.map((e) => e.type)).toEqual(['token.accepted']);
      } else {
        expect(mine).toHaveLength(1);
        if (expected === MALFORMED_HEADER) expect(mine[0]).toEqual(expect.objectContaining({ type: 'token.rejected', code: 'invalid_request' }));
        if (expected === MALFORMED_HEADER) expect(Object.keys(mine[0]!).filter((k) => ['fingerprint', 'issuer', 'kid'].includes(k))).toEqual([]);
      }
    }
  });

  it('a bad header token beside a query or body token is refused for its header first, as before', async () => {
    const twoPlaces = '400 invalid_request: The access token was sent in more than one place';
    const withQuery = { url: `/?access_token=${token}` };
    expect(await outcome(verifiers.query!.verifyRequest(req(`Bearer ${token}`, withQuery)))).toBe(twoPlaces);
    expect(await outcome(verifiers.query!.verifyRequest(req(`Bearer ${token}%`, withQuery)))).toBe(MALFORMED_HEADER);
    // Query tokens off: the query alone is an error; the malformed header still comes first.
    expect(await outcome(verifiers.uncached!.verifyRequest(req(`Bearer ${token}`, withQuery)))).toMatch(/^400 invalid_request: Access tokens in the query string/);
    expect(await outcome(verifiers.uncached!.verifyRequest(req(`Bearer ${token}%`, withQuery)))).toBe(MALFORMED_HEADER);
    const form = (authorization: string) => ({ ...req(authorization), headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', body: `access_token=${token}` });
    expect(await outcome(verifiers.cached!.verifyRequest(form(`Bearer ${token}`)))).toBe(twoPlaces);
    expect(await outcome(verifiers.cached!.verifyRequest(form(`Bearer ${token}%`)))).toBe(MALFORMED_HEADER);
  });
});
