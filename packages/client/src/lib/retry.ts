import { TokenUnavailableError } from '../errors.js';

/** Retry bounds, in milliseconds. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff. */
  minDelayMs: number;
  /** Largest single backoff (also caps a server's `Retry-After`). */
  maxDelayMs: number;
  /** No retry starts later than this after the first attempt. */
  maxElapsedMs: number;
}

/** Backoff before retry `n` (1-based): exponential, "equal jitter" (half fixed, half random). */
export function backoffMs(policy: RetryPolicy, n: number, retryAfterSeconds?: number): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (n - 1));
  const delay = base / 2 + Math.random() * (base / 2);
  return retryAfterSeconds === undefined ? delay : Math.max(delay, Math.min(policy.maxDelayMs, retryAfterSeconds * 1000));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // Not unref'd: a caller may be awaiting this retry and nothing else keeps the process alive.
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function withAttempts(err: TokenUnavailableError, attempts: number): TokenUnavailableError {
  return new TokenUnavailableError(err.code, err.message, {
    status: err.status, error: err.error, errorDescription: err.errorDescription, retryAfter: err.retryAfter,
    retryable: err.retryable, cause: err.cause, attempts,
  });
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the policy's count or time bound
 * is reached. `onRetry` is told about each failure that will be retried.
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  onRetry: (err: TokenUnavailableError) => void,
): Promise<{ value: T; attempts: number }> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return { value: await attempt(), attempts: n };
    } catch (caught) {
      const err = caught instanceof TokenUnavailableError ? caught : new TokenUnavailableError('invalid_response', 'token request failed', { cause: caught });
      const delay = backoffMs(policy, n, err.retryAfter);
      if (!err.retryable || signal.aborted || n > policy.retries || Date.now() - started + delay > policy.maxElapsedMs) {
        throw withAttempts(err, n);
      }
      onRetry(err);
      await sleep(delay, signal);
    }
  }
}
