import { Counter, Gauge, Registry } from 'prom-client';

/** The issuer's metrics, on its own registry (never the global one, so it never collides with a verifier). */
export interface IssuerMetrics {
  registry: Registry;
  tokens: Counter<'client_id' | 'outcome'>;
  authFailures: Counter<'reason'>;
  revocations: Counter<'outcome'>;
}

/** Creates the registry and metrics; `keyStates` and `nextRotation` are read at scrape time. */
export function createIssuerMetrics(keyStates: () => Record<'next' | 'active' | 'retired', number>, nextRotation: () => number): IssuerMetrics {
  const registry = new Registry();
  const tokens = new Counter({
    name: 'tokenguard_issuer_tokens_total',
    help: 'Token requests by client and outcome (issued, or the RFC 6749 error); client_id "-" when the client is not authenticated.',
    labelNames: ['client_id', 'outcome'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'tokenguard_issuer_client_auth_failures_total',
    help: 'Failed client authentications at the token, revocation and introspection endpoints.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['unknown_client', 'wrong_secret', 'malformed', 'rate_limited']) authFailures.inc({ reason }, 0);
  const revocations = new Counter({
    name: 'tokenguard_issuer_revocations_total',
    help: 'Revocation requests by outcome (revoked, ignored: not a token of this issuer).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'tokenguard_issuer_keys',
    help: 'Published signing keys by state (next: published, not signing yet; active: signing; retired: published until its tokens expire).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const states = keyStates();
      for (const state of ['next', 'active', 'retired'] as const) this.set({ state }, states[state]);
    },
  });
  new Gauge({
    name: 'tokenguard_issuer_next_rotation_seconds',
    help: 'Seconds until the next key becomes the signer.',
    registers: [registry],
    collect() {
      this.set(nextRotation());
    },
  });
  return { registry, tokens, authFailures, revocations };
}
