/**
 * The flood section of RESULTS.md (bench/lib/report.mjs): the target row, the control's information row (session
 * 24), and a results file from before the control. bench/ is plain ESM run by node, so the report is rendered in a
 * node child process, as run.mjs renders it.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const REPORT = pathToFileURL(resolve(__dirname, '..', '..', 'bench', 'lib', 'report.mjs')).href;

const BASE = { mode: 'quick', machine: { cores: 2, cpu: 'test cpu', node: process.version, os: 'linux', loadavg: [0, 0, 0], memGiB: 24 }, tokenguard: { available: true, engines: ['default'], adapters: {} }, elapsedSeconds: 1 };
const FLOOD = { available: true, warm: 1, quietReqPerSec: 6000, floodReqPerSec: 5300, ratio: 5300 / 6000, floodRatePerSec: 500, floodStatus: { 401: 1000 }, jwksFetchesDuringFlood: 1, floodSeconds: 4, validNon2xx: 0, cpuPerValidReq: 150, cpuPerFloodReq: 160, jwksFetchesFloodAlone: 0 };
const CONTROL = { controlReqPerSec: 5600, controlRatio: 5600 / 6000, controlStatus: { 200: 1000 }, validNon2xxControl: 0, cpuPerControlReq: 150 };

/** The table rows of the report rendered from `flood` that mention the flood or its control. */
function floodRows(flood: object): Promise<string[]> {
  const script = `import(${JSON.stringify(REPORT)}).then((m) => process.stdout.write(m.renderReport(${JSON.stringify({ ...BASE, flood })})))`;
  return new Promise((done, fail) => {
    execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err, stdout) => (err ? fail(err) : done(stdout.split('\n').filter((l) => l.startsWith('|') && /flood|control/i.test(l)))));
  });
}

describe('bench report: the unknown-kid flood', () => {
  it('judges the flood ratio and shows the control beside it, with the flood read against it', async () => {
    const rows = await floodRows({ ...FLOOD, ...CONTROL });
    expect(rows).toContain('| valid req/s during an unknown-kid flood ÷ without | 5,300 ÷ 6,000 = 0.88 | ≥ 0.9 | **FAIL** |');
    expect(rows).toContain('| … the control: the same rate of valid cached tokens instead (information) | 5,600 ÷ 6,000 = 0.93 | — | info |');
    expect(rows).toContain('| control: answers by status | 200: 1,000 |');
    expect(rows).toContain('| flood ratio ÷ control ratio (what rejecting costs beyond serving) | 0.946 |');
  });

  it('renders a results file from before the control without its rows', async () => {
    const rows = await floodRows(FLOOD);
    expect(rows.filter((r) => /control/i.test(r))).toEqual([]);
    expect(rows.filter((r) => r.includes('n/a'))).toEqual([]);
    expect(rows).toContain('| valid req/s during an unknown-kid flood ÷ without | 5,300 ÷ 6,000 = 0.88 | ≥ 0.9 | **FAIL** |');
  });

  it('says why when the flood could not run', async () => {
    expect(await floodRows({ available: false, reason: '@tokenguard/express not built' })).toEqual(['| unknown-kid flood | @tokenguard/express not built | — | n/a |']);
  });
});
