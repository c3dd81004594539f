import type { IncomingMessage, ServerResponse } from 'node:http';

/** An OAuth error answer (RFC 6749 §5.2): status, `error`, safe description, extra headers. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

/** Sends JSON with `Cache-Control: no-store` (RFC 6749 §5.1: token responses and errors must not be cached). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(payload);
}

/** Sends an {@link OAuthError} as `{ error, error_description }`. */
export function sendError(res: ServerResponse, err: OAuthError): void {
  sendJson(res, err.status, { error: err.error, error_description: err.description }, err.headers);
}

/** Request bodies larger than this get 413. */
export const MAX_BODY_BYTES = 64 * 1024;
// Past the cap we keep reading (and discarding) this much more so the client sees the 413 instead of a reset.
const DRAIN_BYTES = 1024 * 1024;

/** The parameters of a form or JSON body; a name maps to every value it was sent with. */
export type Params = Map<string, string[]>;

/** Reads the body (at most 64 KiB) and parses it as `application/x-www-form-urlencoded` or JSON. */
export async function readParams(req: IncomingMessage): Promise<Params> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES + DRAIN_BYTES) {
    throw new OAuthError(413, 'invalid_request', `request body larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  }
  const body = await readBody(req);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new OAuthError(400, 'invalid_request', 'request body is not valid UTF-8');
  }
  if (type === 'application/x-www-form-urlencoded') return parseForm(text);
  if (type === 'application/json') return parseJson(text);
  throw new OAuthError(400, 'invalid_request', 'content-type must be application/x-www-form-urlencoded (or application/json)');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (err: OAuthError) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (size > MAX_BODY_BYTES + DRAIN_BYTES) {
        fail(new OAuthError(413, 'invalid_request', `request body larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' }));
        req.pause();
      }
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return fail(new OAuthError(413, 'invalid_request', `request body larger than ${MAX_BODY_BYTES} bytes`));
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', () => fail(new OAuthError(400, 'invalid_request', 'request body could not be read')));
    req.on('aborted', () => fail(new OAuthError(400, 'invalid_request', 'request aborted')));
  });
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError(400, 'invalid_request', 'malformed application/x-www-form-urlencoded body');
  }
}

/** Strict form parsing: bad percent-encoding is an error (URLSearchParams would silently keep it). */
export function parseForm(text: string): Params {
  const params: Params = new Map();
  if (text.length === 0) return params;
  for (const pair of text.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1));
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return params;
}

function parseJson(text: string): Params {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OAuthError(400, 'invalid_request', 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OAuthError(400, 'invalid_request', 'JSON body must be an object');
  const params: Params = new Map();
  for (const [name, v] of Object.entries(value)) {
    if (typeof v === 'string') params.set(name, [v]);
    else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) params.set(name, v as string[]);
    else throw new OAuthError(400, 'invalid_request', 'JSON body parameters must be strings');
  }
  return params;
}

/** Parameters that RFC 8707 lets a client repeat; every other parameter must appear at most once (RFC 6749 §3.1). */
const REPEATABLE = new Set(['resource', 'audience']);

/** Returns the one value of `name`, undefined when absent; a repeated parameter is `invalid_request`. */
export function single(params: Params, name: string): string | undefined {
  const values = params.get(name);
  if (values === undefined) return undefined;
  if (values.length > 1 && !REPEATABLE.has(name)) throw new OAuthError(400, 'invalid_request', `parameter "${name}" must not be repeated`);
  return values[0];
}

/** Throws `invalid_request` when any non-repeatable parameter appears more than once. */
export function assertNoDuplicates(params: Params): void {
  for (const [name, values] of params) {
    if (values.length > 1 && !REPEATABLE.has(name)) throw new OAuthError(400, 'invalid_request', `parameter "${name}" must not be repeated`);
  }
}
