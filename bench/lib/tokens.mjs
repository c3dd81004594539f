// Keys, token lists and a JWKS endpoint for the benchmark. Keys are generated at run time and never written
// to disk; nothing here logs a token or key material.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, exportJWK, exportSPKI, SignJWT } from 'jose';

/** Issuer and audience every benchmark token carries. */
export const ISSUER = 'http://127.0.0.1/bench-issuer';
export const AUDIENCE = 'bench-api';

/** The algorithms the benchmark covers. */
export const ALGS = ['RS256', 'ES256', 'EdDSA'];

/** Generates a signing key with a kid, its public JWK (with kid/alg/use) and SPKI PEM. */
export async function makeKey(alg, kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk, pem: await exportSPKI(publicKey) };
}

/**
 * Signs `count` distinct valid access tokens (RFC 9068 shape, 2 h lifetime) with `key`, in parallel chunks.
 * `kid` overrides the header kid (`'random'`: a fresh random kid per token, for the unknown-kid flood).
 */
export async function signTokens(key, count, { kid, prefix = 't' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  const CHUNK = 64;
  for (let start = 0; start < count; start += CHUNK) {
    const jobs = [];
    for (let i = start; i < Math.min(count, start + CHUNK); i++) {
      const headerKid = kid === 'random' ? randomBytes(8).toString('hex') : (kid ?? key.kid);
      jobs.push(
        new SignJWT({ scope: 'orders:read orders:write', client_id: `client-${i % 50}` })
          .setProtectedHeader({ alg: key.alg, kid: headerKid, typ: 'at+jwt' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject(`svc-${prefix}-${i}`)
          .setJti(`${prefix}-${i}-${randomBytes(6).toString('hex')}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 7200)
          .sign(key.privateKey)
          .then((t) => (out[i] = flat(t))),
      );
    }
    await Promise.all(jobs);
  }
  return out;
}

/**
 * A flat copy of a string: a new string object, as an HTTP parser hands out for each request. jose builds a token
 * with a template literal, a rope of three strings in V8: the first character read of a rope (a verifier's first
 * `indexOf` or `charCodeAt`) copies it into one flat string, ~2 µs for an RS256 token that a server never pays.
 * Until session 13 that copy landed in every uncached microbenchmark case (floor included) and in `profile.mjs`,
 * there under `keyOf`.
 */
export function flat(s) {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** Serves `{ keys }` as a JWKS on 127.0.0.1:0 and counts fetches. */
export async function startJwksServer(keys) {
  const body = JSON.stringify({ keys: keys.map((k) => k.jwk) });
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    hits: () => hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
