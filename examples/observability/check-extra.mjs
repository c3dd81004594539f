// Extra checks run by check.sh (plain Node, no dependencies):
//  1. every alert of alerts.yml has a promtool test case where it fires and one where it does not;
//  2. the Grafana dashboard is valid JSON and every panel query parses (checked by promtool as recording rules);
//  3. every tokenguard_* metric named in the alerts and the dashboard is one tokenguard exports.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const read = (f) => readFileSync(join(here, f), 'utf8');
const failures = [];

const KNOWN = new Set([
  'tokenguard_validations_total', 'tokenguard_rejections_total', 'tokenguard_verify_duration_seconds',
  'tokenguard_token_remaining_lifetime_seconds', 'tokenguard_jwks_fetches_total', 'tokenguard_jwks_keys',
  'tokenguard_jwks_age_seconds', 'tokenguard_scope_denials_total', 'tokenguard_cache_entries', 'tokenguard_anomalies_total',
  'tokenguard_issuer_tokens_total', 'tokenguard_issuer_client_auth_failures_total', 'tokenguard_issuer_keys',
  'tokenguard_issuer_next_rotation_seconds',
]);
const metricNames = (text) => [...text.matchAll(/\btokenguard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));

// 1. Alert coverage.
const rules = read('alerts.yml');
const tests = read('alerts.test.yml');
const alerts = [...rules.matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]);
if (alerts.length === 0) failures.push('no alerts found in alerts.yml');
const blocks = tests.split(/^\s*- eval_time:/m).slice(1);
for (const alert of alerts) {
  const mine = blocks.filter((b) => new RegExp(`alertname: ${alert}\\s*$`, 'm').test(b));
  const quiet = mine.filter((b) => /exp_alerts: \[\]/.test(b));
  const firing = mine.filter((b) => /exp_alerts:\s*\n\s*- exp_labels:/.test(b));
  if (quiet.length === 0) failures.push(`${alert}: no test case where it does not fire`);
  if (firing.length === 0) failures.push(`${alert}: no test case where it fires`);
}
for (const name of metricNames(rules)) if (!KNOWN.has(name)) failures.push(`alerts.yml uses unknown metric ${name}`);

// 2. Dashboard queries parse.
let dashboard;
try {
  dashboard = JSON.parse(read('grafana-dashboard.json'));
} catch (err) {
  failures.push(`grafana-dashboard.json: ${err.message}`);
}
if (dashboard) {
  const exprs = [];
  const walk = (panels) => { for (const p of panels ?? []) { for (const t of p.targets ?? []) exprs.push(t.expr); walk(p.panels); } };
  walk(dashboard.panels);
  if (exprs.length === 0) failures.push('dashboard has no queries');
  for (const e of exprs) for (const name of metricNames(e)) if (!KNOWN.has(name)) failures.push(`dashboard uses unknown metric ${name}`);
  const dir = mkdtempSync(join(tmpdir(), 'tg-dash-'));
  try {
    const file = join(dir, 'dashboard-rules.yml');
    const record = exprs.map((expr, i) => ({
      record: `dashboard:query_${i}`,
      expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replace(/\$\w+/g, '.*'),
    }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: record }] }));
    execFileSync('promtool', ['check', 'rules', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    console.log(`dashboard: ${exprs.length} queries parse`);
  } catch (err) {
    failures.push(`dashboard queries do not parse: ${err.stderr ?? err.message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log(`alerts: ${alerts.length} alerts, each tested firing and not firing`);
