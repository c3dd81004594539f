const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Splits a header at commas outside quoted strings. */
function splitOutsideQuotes(header: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted) { current += c + (header[i + 1] ?? ''); i++; continue; }
    if (c === ',' && !quoted) { parts.push(current); current = ''; continue; }
    current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  const v = value.trim();
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

/**
 * Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1) into challenges: scheme (lower-cased) → its
 * auth-params (names lower-cased). Tolerant: anything it cannot read is skipped.
 */
export function parseChallenges(header: string): Map<string, Map<string, string>> {
  const challenges = new Map<string, Map<string, string>>();
  let params: Map<string, string> | undefined;
  for (const raw of splitOutsideQuotes(header)) {
    let part = raw.trim();
    if (!part) continue;
    const first = /^(\S+)\s+(.*)$/s.exec(part);
    if (first && TOKEN.test(first[1]!) && !first[2]!.startsWith('=')) {
      // a new challenge: "Scheme param=value" (or "Scheme token68")
      params = new Map();
      if (!challenges.has(first[1]!.toLowerCase())) challenges.set(first[1]!.toLowerCase(), params);
      part = first[2]!.trim();
    } else if (TOKEN.test(part)) {
      params = new Map();
      if (!challenges.has(part.toLowerCase())) challenges.set(part.toLowerCase(), params);
      continue;
    }
    const eq = part.indexOf('=');
    if (params && eq > 0) {
      const name = part.slice(0, eq).trim().toLowerCase();
      if (TOKEN.test(name)) params.set(name, unquote(part.slice(eq + 1)));
    }
  }
  return challenges;
}

/** True when a 401's `WWW-Authenticate` carries a Bearer challenge with `error="invalid_token"` (RFC 6750 §3.1). */
export function isInvalidTokenChallenge(header: string | null): boolean {
  if (!header) return false;
  return parseChallenges(header).get('bearer')?.get('error') === 'invalid_token';
}
