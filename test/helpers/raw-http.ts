/**
 * A raw HTTP/1.1 client over `node:net`, for requests no ordinary client sends: duplicate headers, odd
 * spacing, tabs, oversized headers. The same bytes go to every server under test. Loopback only.
 */
import { connect } from 'node:net';

export interface RawRequest {
  method?: string;
  /** Path and query, e.g. `/orders?x=1`. */
  path: string;
  /** Header lines in order; a name may repeat. `Host` and `Connection: close` are added. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers joined with `, ` (as Node does). */
  headers: Record<string, string>;
  body: string;
}

/** Sends one request to `baseUrl` (http://127.0.0.1:port) and parses the answer. Rejects after `timeoutMs`. */
export function rawRequest(baseUrl: string, req: RawRequest, timeoutMs = 5000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  if (url.hostname !== '127.0.0.1') throw new Error('rawRequest only talks to 127.0.0.1');
  const lines = [`${req.method ?? 'GET'} ${req.path} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
  for (const [name, value] of req.headers ?? []) lines.push(`${name}: ${value}`);
  if (req.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(req.body)}`);
  const payload = `${lines.join('\r\n')}\r\n\r\n${req.body ?? ''}`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms for ${req.method ?? 'GET'} ${req.path}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      // A server may reset after answering (e.g. 431); parse what arrived if anything did.
      if (chunks.length > 0) return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete HTTP answer: ${JSON.stringify(text.slice(0, 80))}`);
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(match[1]), headers, body: body.toString('utf8') };
}

function dechunk(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (let guard = 0; guard < 100_000 && at < buf.length; guard++) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
