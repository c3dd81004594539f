/**
 * Reads `exp` (seconds since the epoch) from a token that looks like a compact JWS, without verifying it:
 * the client only uses it to know when to stop handing the token out. Returns undefined for opaque tokens,
 * undecodable payloads and non-finite or missing `exp`.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1] || parts[1].length > 16_384) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  if (!Object.prototype.hasOwnProperty.call(payload, 'exp')) return undefined;
  const exp = (payload as Record<string, unknown>).exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
}
