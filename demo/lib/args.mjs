/**
 * Command-line flags of the demo. Everything has a default, so `node demo/run.mjs` alone runs it.
 */

import { fileURLToPath } from 'node:url';

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `.demo-data` at the repository root, wherever the demo is started from (git ignores it). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../../.demo-data', import.meta.url));

/**
 * Parses a duration: a bare number is seconds, a string takes a unit (`500ms`, `20s`, `2m`, `1h`).
 * @param {string} value
 * @param {string} flag the flag name, for the error message
 * @returns {number} seconds
 * @example parseDuration('20s', '--duration') // 20
 */
export function parseDuration(value, flag) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(value).trim());
  if (!match) throw new UsageError(`${flag} must be a duration like 20s, 2m or 500ms (got "${value}")`);
  return Number(match[1]) * UNITS[match[2] ?? 's'];
}

/** A bad command line: the demo prints the message and the usage, and exits with code 2. */
export class UsageError extends Error {
  name = 'UsageError';
}

/** The usage text of `node demo/run.mjs --help`. */
export const USAGE = `Usage: pnpm demo [-- options]      (or: node demo/run.mjs [options] after pnpm build)

Runs the whole tokenguard lifecycle on this machine: a token service with two clients
(reader: orders:read; writer: orders:read orders:write) that rotates its signing key every
few seconds, the orders API on Express, Koa and Fastify, and clients calling them.

Options:
  --duration D        stop by itself after D (e.g. 20s, 2m); exit code 1 if any call failed
                      in a way it should not have (a rotation failure included). Default: run until Ctrl-C
  --json              print one machine-readable JSON summary on stdout at the end
                      (the live lines then go to stderr)
  --rate N            calls per second, all APIs together (1..200). Default 30
  --rotate-every D    signing-key rotation period (1s..1h). Default 5s
  --data-dir DIR      the token service's data folder. Default .demo-data at the repository root
                      (resumed on the next run)
  --fresh             delete the data folder first (start clean)
  --issuer-port P     port of the token service (default 0: a free port)
  --express-port P    port of the Express API (default 0)
  --koa-port P        port of the Koa API (default 0)
  --fastify-port P    port of the Fastify API (default 0)
  --no-prepublish     break rotation on purpose, to see what tokenguard's timing avoids: each new key
                      signs the moment it is published, and the APIs cache keys for 10 minutes
  --no-curl           do not print the copy-paste curl line (it holds a live demo token)
  --help              this text
`;

/**
 * @typedef {object} DemoArgs
 * @property {number | undefined} durationSeconds
 * @property {boolean} json
 * @property {number} rate calls per second, all APIs together
 * @property {number} rotateEverySeconds
 * @property {string} dataDir
 * @property {boolean} fresh
 * @property {{ issuer: number, express: number, koa: number, fastify: number }} ports
 * @property {boolean} curl
 * @property {boolean} prePublish false with --no-prepublish
 * @property {boolean} help
 */

function parsePort(value, flag) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number 0..65535 (got "${value}")`);
  return n;
}

/**
 * Parses `process.argv.slice(2)`. Accepts `--flag value` and `--flag=value`.
 * @param {string[]} argv
 * @returns {DemoArgs}
 * @throws {UsageError} on an unknown flag or a bad value
 */
export function parseArgs(argv) {
  /** @type {DemoArgs} */
  const args = {
    durationSeconds: undefined, json: false, rate: 30, rotateEverySeconds: 5, dataDir: DEFAULT_DATA_DIR, fresh: false,
    ports: { issuer: 0, express: 0, koa: 0, fastify: 0 }, curl: true, prePublish: true, help: false,
  };
  const list = [...argv];
  while (list.length > 0) {
    const raw = /** @type {string} */ (list.shift());
    if (raw === '--') continue; // `pnpm demo -- --duration 20s` passes the separator through
    const eq = raw.indexOf('=');
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = () => {
      const v = inline ?? list.shift();
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--duration': {
        const s = parseDuration(value(), flag);
        if (s < 1 || s > 86400) throw new UsageError('--duration must be between 1s and 24h');
        args.durationSeconds = s;
        break;
      }
      case '--json': args.json = true; break;
      case '--rate': {
        const n = Number(value());
        if (!Number.isFinite(n) || n < 1 || n > 200) throw new UsageError('--rate must be a number of calls per second, 1..200');
        args.rate = n;
        break;
      }
      case '--rotate-every': {
        const s = parseDuration(value(), flag);
        if (s < 1 || s > 3600) throw new UsageError('--rotate-every must be between 1s and 1h');
        args.rotateEverySeconds = s;
        break;
      }
      case '--data-dir': args.dataDir = value(); break;
      case '--fresh': args.fresh = true; break;
      case '--issuer-port': args.ports.issuer = parsePort(value(), flag); break;
      case '--express-port': args.ports.express = parsePort(value(), flag); break;
      case '--koa-port': args.ports.koa = parsePort(value(), flag); break;
      case '--fastify-port': args.ports.fastify = parsePort(value(), flag); break;
      case '--no-curl': args.curl = false; break;
      case '--no-prepublish': args.prePublish = false; break;
      case '--help': case '-h': args.help = true; break;
      default: throw new UsageError(`unknown option ${flag}`);
    }
  }
  return args;
}
