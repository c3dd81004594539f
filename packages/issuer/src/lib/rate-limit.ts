/** Counts failures per key in fixed windows; bounded in memory (oldest windows are evicted first). */
export class FailureLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is not blocked. */
  blockedFor(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) return 0;
    return w.count >= this.limit ? Math.max(1, Math.ceil((w.resetAt - now) / 1000)) : 0;
  }

  /** Records one failure for `key`. */
  fail(key: string, now = Date.now()): void {
    let w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) {
        for (const [k, v] of this.windows) if (v.resetAt <= now) this.windows.delete(k);
        if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
      }
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
  }
}
