import { createHash } from 'node:crypto';

/**
 * A short, non-reversible fingerprint of a token, safe for logs and audit events: the first 16
 * base64url characters (96 bits) of its SHA-256. Two presentations of the same token share it;
 * nothing about the token can be learned from it.
 * @example fingerprint(token) // 'u3C1ZB2w0d8m2x7Q'
 */
export function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16);
}
