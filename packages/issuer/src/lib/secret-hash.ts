import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const DEFAULT = { N: 16_384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

function derive(secret: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, length, { ...options, maxmem: MAX_MEMORY + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

interface ParsedHash { N: number; r: number; p: number; salt: Buffer; hash: Buffer }

function parse(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const ok = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  // Bounded cost parameters: a hash in a config file must not be able to exhaust memory or CPU.
  if (!ok(N, 1 << 20) || (N & (N - 1)) !== 0 || N < 2 || !ok(r, 32) || !ok(p, 16) || 128 * N * r > MAX_MEMORY) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const hash = Buffer.from(parts[5] ?? '', 'base64url');
  if (salt.length < 16 || hash.length < 16 || hash.length > 64) return undefined;
  return { N, r, p, salt, hash };
}

/** True when `encoded` is a well-formed `scrypt$N$r$p$salt$hash` string with bounded cost parameters. */
export function isSecretHash(encoded: string): boolean {
  return parse(encoded) !== undefined;
}

/**
 * Hashes a client secret with scrypt and a random 16-byte salt: `scrypt$N$r$p$<salt>$<hash>` (base64url).
 * @example await hashClientSecret(secret) // 'scrypt$16384$8$1$...'
 */
export async function hashClientSecret(secret: string): Promise<string> {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('"secret" must be a non-empty string');
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, KEY_LENGTH, DEFAULT);
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

const DUMMY = `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${Buffer.alloc(16, 1).toString('base64url')}$${Buffer.alloc(32, 2).toString('base64url')}`;

/**
 * Compares a presented secret with a stored hash in constant time. With `encoded` undefined (unknown client) it
 * still spends one scrypt, so unknown and known clients take the same time. Resolves false for a malformed hash.
 */
export async function verifyClientSecret(secret: string, encoded: string | undefined): Promise<boolean> {
  const tooLong = secret.length > 1024;
  const parsed = (tooLong ? undefined : parse(encoded ?? DUMMY)) ?? parse(DUMMY)!;
  const candidate = await derive(tooLong ? '' : secret, parsed.salt, parsed.hash.length, { N: parsed.N, r: parsed.r, p: parsed.p });
  return timingSafeEqual(candidate, parsed.hash) && !tooLong && encoded !== undefined && isSecretHash(encoded);
}

/** A new random client secret: 32 bytes, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}
