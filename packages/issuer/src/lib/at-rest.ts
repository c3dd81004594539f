import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import type { JWK } from 'jose';

/** A private key encrypted at rest with AES-256-GCM under a key derived by scrypt from the master key. */
export interface SealedKey {
  enc: 'A256GCM+scrypt';
  salt: string;
  iv: string;
  tag: string;
  ct: string;
}

const derived = new Map<string, Buffer>();

function keyFor(masterKey: string, salt: Buffer): Buffer {
  // Keyed by master key and salt: a wrong master key must never hit a key derived from the right one.
  const id = `${createHash('sha256').update(masterKey).digest('base64url')}.${salt.toString('base64url')}`;
  let key = derived.get(id);
  if (key === undefined) {
    key = scryptSync(masterKey, salt, 32, { N: 16_384, r: 8, p: 1 });
    // Bounded cache: one entry per stored key, and keys rotate out.
    if (derived.size > 64) derived.clear();
    derived.set(id, key);
  }
  return key;
}

/** True when `value` has the shape of a {@link SealedKey}. */
export function isSealed(value: unknown): value is SealedKey {
  return typeof value === 'object' && value !== null && (value as SealedKey).enc === 'A256GCM+scrypt';
}

/** Encrypts a private JWK; `aad` (the kid) binds the ciphertext to its record. */
export function seal(jwk: JWK, masterKey: string, aad: string): SealedKey {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(masterKey, salt), iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return { enc: 'A256GCM+scrypt', salt: salt.toString('base64url'), iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), ct: ct.toString('base64url') };
}

/** Decrypts a {@link SealedKey}; throws an `Error` saying the master key is wrong when authentication fails. */
export function unseal(sealed: SealedKey, masterKey: string, aad: string): JWK {
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(masterKey, Buffer.from(sealed.salt, 'base64url')), Buffer.from(sealed.iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as JWK;
  } catch (err) {
    throw new Error('cannot decrypt a signing key: TOKENGUARD_MASTER_KEY is wrong or the key file was altered', { cause: err });
  }
}
