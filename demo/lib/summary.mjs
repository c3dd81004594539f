/**
 * The live summary: per framework what its own `/metrics` and audit events say (accepted, rejected by reason,
 * scope denials, key changes, rotation failures), what the callers saw, and the token service's view.
 * Rendered as a redrawn block on a terminal, as plain lines otherwise, and as one JSON object at the end.
 */
import { byLabel, scrape, sum } from './prom-text.mjs';
import { ROTATION_CODES } from './traffic.mjs';

/** Caps the distinct signer kids remembered per framework (one per rotation; the demo may run for hours). */
const MAX_KIDS = 1000;

/**
 * Counts audit events per framework (`onEvent` of each guard). Holds counters and kids only, never a token.
 * @returns {{ onEvent: (framework: string, event: { type?: string, kid?: unknown, code?: unknown }) => void, get: (framework: string) => { events: Record<string, number>, signerKids: Set<string> } }}
 */
export function createAuditCounter() {
  /** @type {Map<string, { events: Record<string, number>, signerKids: Set<string> }>} */
  const per = new Map();
  const get = (framework) => {
    let entry = per.get(framework);
    if (!entry) per.set(framework, (entry = { events: {}, signerKids: new Set() }));
    return entry;
  };
  return {
    get,
    onEvent(framework, event) {
      const entry = get(framework);
      const type = typeof event?.type === 'string' ? event.type : 'unknown';
      entry.events[type] = (entry.events[type] ?? 0) + 1;
      if (type === 'token.accepted' && typeof event.kid === 'string' && entry.signerKids.size < MAX_KIDS) entry.signerKids.add(event.kid);
    },
  };
}

/**
 * Takes one snapshot: scrapes every `/metrics` (APIs and token service) and merges the callers' and the
 * audit counters. A scrape that fails shows as `scrapeError` and leaves that framework's numbers at their last value.
 * @param {object} state
 * @returns {Promise<object>} the snapshot (also the `--json` output)
 */
export async function takeSnapshot(state) {
  const { apis, issuer, traffic, audit, startedAt, last } = state;
  const frameworks = await Promise.all(apis.map(async (api) => {
    const callers = traffic.stats[api.framework];
    const events = audit.get(api.framework);
    let samples;
    try {
      samples = await scrape(api.metricsUrl);
    } catch (err) {
      const previous = last?.frameworks.find((f) => f.framework === api.framework);
      return { ...(previous ?? { framework: api.framework, metricsUrl: api.metricsUrl }), callers, scrapeError: String(err?.message ?? err) };
    }
    const reasons = byLabel(samples, 'tokenguard_rejections_total', 'reason');
    const scopeMetric = sum(samples, 'tokenguard_scope_denials_total');
    return {
      framework: api.framework,
      url: api.url,
      metricsUrl: api.metricsUrl,
      accepted: sum(samples, 'tokenguard_validations_total', { outcome: 'accepted' }),
      rejected: sum(samples, 'tokenguard_validations_total', { outcome: 'rejected' }),
      rejectedByReason: reasons,
      scopeDenials: scopeMetric > 0 ? scopeMetric : (reasons.insufficient_scope ?? 0),
      rotationFailures: ROTATION_CODES.reduce((n, code) => n + (reasons[code] ?? 0), 0),
      jwksFetches: byLabel(samples, 'tokenguard_jwks_fetches_total', 'outcome'),
      keysPublished: sum(samples, 'tokenguard_jwks_keys'),
      keysAdded: events.events['key.added'] ?? 0,
      keysRemoved: events.events['key.removed'] ?? 0,
      signerKidsSeen: events.signerKids.size,
      callers,
    };
  }));

  let issuerView = last?.issuer ?? {};
  try {
    const samples = await scrape(`${issuer.url}/metrics`);
    issuerView = {
      url: issuer.url,
      metricsUrl: `${issuer.url}/metrics`,
      tokensIssued: sum(samples, 'tokenguard_issuer_tokens_total'),
      tokensByOutcome: byLabel(samples, 'tokenguard_issuer_tokens_total', 'outcome'),
      keys: byLabel(samples, 'tokenguard_issuer_keys', 'state'),
      nextRotationSeconds: sum(samples, 'tokenguard_issuer_next_rotation_seconds'),
    };
  } catch (err) {
    issuerView = { ...issuerView, url: issuer.url, metricsUrl: `${issuer.url}/metrics`, scrapeError: String(err?.message ?? err) };
  }
  // Rotations the callers have seen: each change of the kid that signs freshly minted tokens.
  issuerView.signerChangesSeen = traffic.probe.signerChanges;
  issuerView.freshTokensMinted = traffic.probe.mints;
  issuerView.mintErrors = traffic.probe.mintErrors;

  const rotationFailures = frameworks.reduce((n, f) => n + Math.max(f.rotationFailures ?? 0, f.callers.rotationFailures), 0);
  const unexpected = frameworks.reduce((n, f) => n + f.callers.unexpected + f.callers.errors, 0) + traffic.probe.mintErrors;
  return {
    elapsedSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
    issuer: issuerView,
    frameworks,
    skippedTicks: traffic.skipped(),
    rotationFailures,
    failures: unexpected,
    ok: rotationFailures === 0 && unexpected === 0,
  };
}

function reasonsText(reasons) {
  const parts = Object.entries(reasons ?? {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

function pad(value, width) {
  const text = String(value);
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/**
 * The lines of the live block (terminal) — a table per framework plus the token service line.
 * @param {object} snap a {@link takeSnapshot} result
 * @returns {string[]}
 */
export function renderBlock(snap) {
  const i = snap.issuer;
  const keys = i.keys ? `keys next=${i.keys.next ?? 0} active=${i.keys.active ?? 0} retired=${i.keys.retired ?? 0}` : 'keys ?';
  const lines = [
    `tokenguard demo · ${snap.elapsedSeconds}s · Ctrl-C stops · ${snap.ok ? 'no failures' : `FAILURES ${snap.failures} (rotation ${snap.rotationFailures})`}`,
    `token service ${i.url}  tokens issued ${i.tokensIssued ?? '?'}  ${keys}  rotations seen ${i.signerChangesSeen}${i.scrapeError ? `  (metrics: ${i.scrapeError})` : ''}`,
    '',
    `${'api'.padEnd(8)}${pad('accepted', 9)}${pad('rejected', 9)}${pad('scope-denied', 13)}${pad('rot-fail', 9)}${pad('keys+/-', 8)}${pad('signers', 8)}${pad('calls ok/denied/bad', 21)}  rejected by reason`,
  ];
  for (const f of snap.frameworks) {
    const c = f.callers;
    lines.push(
      `${f.framework.padEnd(8)}${pad(f.accepted ?? '?', 9)}${pad(f.rejected ?? '?', 9)}${pad(f.scopeDenials ?? '?', 13)}${pad(f.rotationFailures ?? '?', 9)}` +
      `${pad(`${f.keysAdded ?? 0}/${f.keysRemoved ?? 0}`, 8)}${pad(f.signerKidsSeen ?? 0, 8)}${pad(`${c.ok}/${c.denied}/${c.unexpected + c.errors}`, 21)}  ${reasonsText(f.rejectedByReason)}` +
      (f.scrapeError ? `  (metrics: ${f.scrapeError})` : ''),
    );
  }
  lines.push(
    'accepted/rejected, scope-denied: the API\'s own tokenguard_* metrics · rot-fail: key_not_found + signature_invalid + jwks_unavailable',
    'keys+/-: key.added/key.removed audit events · signers: signing keys seen in accepted tokens · calls: what the callers got (ok/refused as expected/unexpected)',
  );
  const bad = snap.frameworks.flatMap((f) => Object.entries(f.callers.unexpectedBy).map(([k, v]) => `${f.framework} ${k} ×${v}`));
  if (bad.length > 0) lines.push('', `unexpected answers: ${bad.slice(0, 6).join('; ')}`);
  return lines;
}

/**
 * One plain line per framework (no terminal): `[12.0s] express accepted=.. rejected=.. ...`.
 * @param {object} snap
 * @returns {string[]}
 */
export function renderPlain(snap) {
  const t = `[${snap.elapsedSeconds}s]`;
  const i = snap.issuer;
  const lines = [
    `${t} issuer tokens=${i.tokensIssued ?? '?'} keys=${JSON.stringify(i.keys ?? {})} rotations_seen=${i.signerChangesSeen} failures=${snap.failures} rotation_failures=${snap.rotationFailures}`,
  ];
  for (const f of snap.frameworks) {
    const c = f.callers;
    lines.push(
      `${t} ${f.framework} accepted=${f.accepted ?? '?'} rejected=${f.rejected ?? '?'} scope_denied=${f.scopeDenials ?? '?'} rotation_failures=${f.rotationFailures ?? '?'} ` +
      `keys_added=${f.keysAdded ?? 0} keys_removed=${f.keysRemoved ?? 0} signers=${f.signerKidsSeen ?? 0} calls_ok=${c.ok} calls_denied=${c.denied} calls_bad=${c.unexpected + c.errors} ` +
      `reasons=${reasonsText(f.rejectedByReason).replace(/ /g, ',')}`,
    );
  }
  return lines;
}
