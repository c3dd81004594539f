// Snapshots the current build of @tokenguard/core and its three adapters (their dist/ and package.json) into
// bench/.baseline/, for the paired rounds' `baseline` group: `node bench/run.mjs --only=paired
// --paired-groups=baseline` then serves bare, the snapshot and the build of the moment from ONE server process,
// so a change to the hit path is measured against the code before it, on the same JIT state (bench/README.md).
//
//   pnpm exec tsc -b && node bench/baseline.mjs     # before the change: the baseline
//   (edit, pnpm exec tsc -b)
//   node bench/run.mjs --quick --diagnose --only=paired --frameworks=fastify --paired-groups=baseline --cycles=32
//
// The snapshot lies outside packages/ (pnpm would take a copy there for a workspace package of the same name).
// Its node_modules entries are links to the very directories the build's own entries resolve to, so both copies
// run the same jose, lru-cache, prom-client and frameworks; each adapter's @tokenguard/core is the snapshot's.
// Options: --out=DIR (default bench/.baseline).
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, parseArgs } from './lib/common.mjs';

const PACKAGES = ['core', 'express', 'fastify', 'koa'];

/** The directory a snapshot is written to and read from by default. */
export const DEFAULT_BASELINE_DIR = join(BENCH_DIR, '.baseline');

function git(root, args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Links `dst/node_modules/<name>` to where `src/node_modules/<name>` resolves (scoped names one level down). */
function linkModules(src, dst, snapshotCore) {
  const from = join(src, 'node_modules');
  if (!existsSync(from)) return;
  const to = join(dst, 'node_modules');
  const link = (name) => {
    const target = name === '@tokenguard/core' ? snapshotCore : realpathSync(join(from, name));
    symlinkSync(target, join(to, name), 'dir');
  };
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      mkdirSync(join(to, name), { recursive: true });
      for (const sub of readdirSync(join(from, name))) link(`${name}/${sub}`);
    } else link(name);
  }
}

/**
 * Copies the built packages under `root/packages` to `out`, replacing any earlier snapshot. Returns what it
 * recorded in `out/INFO.json`: the commit, whether packages/ had uncommitted changes, and when.
 */
export function snapshot(root, out) {
  for (const pkg of PACKAGES) {
    if (!existsSync(join(root, 'packages', pkg, 'dist', 'index.js'))) throw new Error(`packages/${pkg} is not built: run pnpm exec tsc -b first`);
  }
  rmSync(out, { recursive: true, force: true });
  for (const pkg of PACKAGES) {
    const src = join(root, 'packages', pkg);
    const dst = join(out, pkg);
    cpSync(join(src, 'dist'), join(dst, 'dist'), { recursive: true });
    cpSync(join(src, 'package.json'), join(dst, 'package.json'));
    linkModules(src, dst, join(out, 'core'));
  }
  const status = git(root, ['status', '--porcelain', '--', 'packages']);
  const info = { commit: git(root, ['rev-parse', '--short', 'HEAD']) ?? 'unknown', dirty: status === undefined ? undefined : status.length > 0, date: new Date().toISOString() };
  writeFileSync(join(out, 'INFO.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  const args = parseArgs(process.argv.slice(2));
  const out = args.out ? String(args.out) : DEFAULT_BASELINE_DIR;
  const info = snapshot(join(BENCH_DIR, '..'), out);
  console.log(`baseline: the build of ${info.commit}${info.dirty ? ' (with uncommitted changes in packages/)' : ''} copied to ${out}`);
}
