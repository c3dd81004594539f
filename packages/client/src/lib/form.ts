/**
 * `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 Appendix B requires for
 * client_secret_basic credentials: everything but unreserved characters is percent-encoded, space is `+`.
 */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** The `Authorization` value for `client_secret_basic` (RFC 6749 §2.3.1: form-encode id and secret, then base64). */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
}
