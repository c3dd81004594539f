/**
 * One HTTP GET of a JSON document with a hard deadline for the whole exchange (connect, headers and body),
 * no redirects followed, and a byte cap. Every failure is a {@link FetchError} with a short safe message.
 */

/** A failed fetch: `message` is safe to log (no body, no headers). */
export class FetchError extends Error {
  override readonly name = 'FetchError';
}

/** Parses an absolute http:// or https:// URL without credentials; undefined for anything else. */
export function parseHttpUrl(value: unknown): URL | undefined {
  let url: URL;
  try {
    if (typeof value !== 'string') return undefined;
    url = new URL(value);
  } catch {
    return undefined;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password ? url : undefined;
}

/** Options of {@link fetchJson}. */
export interface FetchJsonOptions {
  /** Epoch milliseconds by which the whole exchange must be over. */
  deadline: number;
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Aborts the exchange (e.g. on close). */
  signal?: AbortSignal;
}

/**
 * GETs `url` and parses the body as JSON. Rejects with {@link FetchError} on a timeout, a network error, any
 * status but 200 (a 3xx is not followed), a body over `maxBytes`, or invalid JSON.
 * @example const doc = await fetchJson(new URL('https://idp.example/jwks'), { deadline: Date.now() + 5000, maxBytes: 262144 })
 */
export async function fetchJson(url: URL, opts: FetchJsonOptions): Promise<unknown> {
  const remaining = opts.deadline - Date.now();
  if (remaining <= 0) throw new FetchError('timed out');
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, remaining);
  const onAbort = () => controller.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) controller.abort();
  try {
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, { redirect: 'manual', signal: controller.signal, headers: { accept: 'application/json' } });
    } catch (err) {
      throw new FetchError(timedOut ? 'timed out' : opts.signal?.aborted ? 'closed' : `request failed (${errorKind(err)})`);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) throw new FetchError(`redirect (HTTP ${res.status}) not followed`);
      throw new FetchError(`HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchError(`body over ${opts.maxBytes} bytes`);
    }
    const text = await readCapped(res, opts.maxBytes, () => (timedOut ? 'timed out' : opts.signal?.aborted ? 'closed' : undefined));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new FetchError('body is not valid JSON');
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function readCapped(res: Response, maxBytes: number, why: () => string | undefined): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new FetchError(`body over ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw new FetchError(why() ?? `body read failed (${errorKind(err)})`);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}

/** A short, safe name for a network error (its code), never its full text. */
function errorKind(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z_0-9]{1,40}$/.test(code) ? code : err instanceof Error ? err.name : 'error';
}
