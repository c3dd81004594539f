import { createHash } from 'node:crypto';

/** A short, non-reversible fingerprint of a token or secret for logs and events (12 base64url characters of SHA-256). */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 12);
}
