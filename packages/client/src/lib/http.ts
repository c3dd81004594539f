import { TokenUnavailableError, type TokenUnavailableCode } from '../errors.js';

/** An answer read in full (bounded in size and time). */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Bounds of one HTTP exchange. */
export interface HttpLimits {
  fetch: typeof globalThis.fetch;
  /** Milliseconds for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest body read, in bytes. */
  maxBytes: number;
  /** Aborted by `close()`. */
  signal: AbortSignal;
}

async function readCapped(res: Response, maxBytes: number, what: string): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Bounded by maxBytes and by the abort signal of the request.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new TokenUnavailableError('invalid_response', `${what} answered with more than ${maxBytes} bytes`, { status: res.status });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : 'network error';
}

/**
 * One HTTP exchange with a hard time limit (connect, headers and body together) and a body size cap.
 * Redirects are never followed (a redirected token request would carry credentials elsewhere).
 * Network failures become a retryable `endpoint_unavailable`, the time limit `timeout`, `close()` `closed`.
 */
export async function exchange(url: string, init: RequestInit, limits: HttpLimits, what: string): Promise<HttpAnswer> {
  const timer = AbortSignal.timeout(Math.max(1, Math.round(limits.timeoutMs)));
  const signal = AbortSignal.any([timer, limits.signal]);
  try {
    const res = await limits.fetch(url, { ...init, redirect: 'manual', signal });
    const text = await readCapped(res, limits.maxBytes, what);
    return { status: res.status, headers: res.headers, text };
  } catch (err) {
    if (err instanceof TokenUnavailableError) throw err;
    let code: TokenUnavailableCode = 'endpoint_unavailable';
    let message = `${what} unreachable (${networkReason(err)})`;
    if (limits.signal.aborted) [code, message] = ['closed', 'the token provider was closed'];
    else if (timer.aborted) [code, message] = ['timeout', `${what} did not answer within ${limits.timeoutMs} ms`];
    throw new TokenUnavailableError(code, message, { cause: err });
  }
}

/** Parses a JSON object body; undefined when the body is not a JSON object. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds of a `Retry-After` header (delta-seconds or HTTP date), undefined if absent or unreadable. */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}
