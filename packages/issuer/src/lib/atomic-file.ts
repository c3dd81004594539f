import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * Creates `dir` and its missing parents with `mode`, one level at a time. Node's own `mkdirSync(dir, { recursive: true })`
 * spins forever where a parent exists but refuses the child with ENOENT (e.g. under `/proc`); this fails instead.
 */
export function makeDirectory(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`, { cause: err });
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirectory(parent, mode);
    mkdirSync(dir, { mode }); // a second ENOENT now is final
  }
}

/** Writes `data` to `path` atomically: a 0600 temp file in the same folder, fsync, rename. */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
}

/** Reads a JSON file; `undefined` when it does not exist. Throws a one-line `Error` when it is not JSON. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path} is not valid JSON`, { cause: err });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` holding an exclusive lock file (`O_EXCL` create) so read-modify-write is safe across processes.
 * A lock older than `staleMs` is taken over (its holder died). Waits at most `timeoutMs`.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T> | T, timeoutMs = 5000, staleMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > staleMs) unlinkSync(lockPath);
      } catch { /* released meanwhile */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the store lock ${lockPath}`, { cause: err });
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    try { unlinkSync(lockPath); } catch { /* taken over as stale */ }
  }
}
