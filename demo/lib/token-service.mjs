/**
 * The demo's token service: `createIssuerServer` from `@tokenguard/issuer` with its file store in the demo's data
 * folder, two clients of different scopes, and a signing-key rotation every few seconds.
 *
 * The data folder is resumed on the next run (keys, clients and revocations stay; the client secrets the demo
 * generated are kept next to them in `demo-clients.json`, mode 0600, so the clients can authenticate again).
 * `--fresh` empties it first.
 */
import { chmod, mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createIssuerServer, generateClientSecret, hashClientSecret } from '@tokenguard/issuer';
import { AUDIENCE } from './apis.mjs';

/** Lifetime of the tokens the demo clients get: short, so tokens from every key flow while the demo runs. */
export const TOKEN_TTL = '30s';

/**
 * @typedef {object} Timing
 * @property {string} rotateEvery issuer `signing.rotateEvery`
 * @property {string} prePublish issuer `signing.prePublish`: a new key is in the JWKS this long before it signs
 * @property {{ cacheMaxAge: string, cooldown: string, timeout: string }} jwks verifier key-set settings
 */

const ms = (seconds) => `${Math.max(1, Math.round(seconds * 1000))}ms`;

/**
 * Derives the timing that makes rotation invisible to callers: a new key is published `prePublish` (half the
 * period) before it signs, and every verifier refetches the key set at least three times within that window.
 * With `safe: false` (`--no-prepublish`) a new key signs at once and verifiers keep keys for 10 minutes with a
 * 10-minute cooldown on unknown kids, so the second rotation is rejected (`key_not_found`): the failure on show.
 * @param {number} rotateEverySeconds
 * @param {boolean} [safe] default true
 * @returns {Timing}
 * @example rotationTiming(5) // rotateEvery 5000ms, prePublish 2500ms, jwks.cacheMaxAge 833ms
 */
export function rotationTiming(rotateEverySeconds, safe = true) {
  if (!safe) {
    return { rotateEvery: ms(rotateEverySeconds), prePublish: '0ms', jwks: { cacheMaxAge: '10m', cooldown: '10m', timeout: '3s' } };
  }
  const prePublish = rotateEverySeconds / 2;
  return {
    rotateEvery: ms(rotateEverySeconds),
    prePublish: ms(prePublish),
    jwks: { cacheMaxAge: ms(Math.min(prePublish / 3, 10)), cooldown: ms(Math.min(prePublish / 3, 1)), timeout: '3s' },
  };
}

const CLIENTS = [
  { clientId: 'reader', scopes: ['orders:read'] },
  { clientId: 'writer', scopes: ['orders:read', 'orders:write'] },
];

/**
 * Reads the demo's client secrets from the data folder, or creates them.
 * @param {string} dir the data folder
 * @returns {Promise<{ secrets: { reader: string, writer: string }, resumed: boolean }>}
 */
async function loadSecrets(dir) {
  const file = join(dir, 'demo-clients.json');
  try {
    const saved = JSON.parse(await readFile(file, 'utf8'));
    if (typeof saved?.reader === 'string' && typeof saved?.writer === 'string') return { secrets: { reader: saved.reader, writer: saved.writer }, resumed: true };
  } catch (err) {
    if (err?.code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
  }
  const secrets = { reader: generateClientSecret(), writer: generateClientSecret() };
  await writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { secrets, resumed: false };
}

/**
 * Claims the data folder for this process (`demo.pid`), so two demos never rotate keys in one store at once.
 * A pid file left by a demo that is gone is taken over.
 * @param {string} dir
 * @returns {Promise<() => Promise<void>>} releases the claim
 */
async function claimDataDir(dir) {
  const file = join(dir, 'demo.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if (err?.code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new Error(`another demo (pid ${pid}) is using the data folder ${dir}; stop it, or pass --data-dir DIR`);
    }
    await unlink(file).catch(() => {});
  }
  throw new Error(`cannot claim the data folder ${dir} (demo.pid keeps coming back)`);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err?.code === 'EPERM';
  }
}

/**
 * Starts the token service.
 * @param {object} opts
 * @param {string} opts.dataDir the demo data folder (relative to the working directory)
 * @param {boolean} opts.fresh delete the folder first
 * @param {number} opts.port 0 picks a free port
 * @param {Timing} opts.timing
 * @returns {Promise<{ close: () => Promise<void>, url: string, tokenUrl: string, secrets: { reader: string, writer: string }, resumed: boolean, dataDir: string }>}
 */
export async function startTokenService({ dataDir, fresh, port, timing }) {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const release = await claimDataDir(dir);
  try {
    // Cleared only once claimed, so --fresh never pulls the store from under a running demo.
    if (fresh) {
      for (const entry of await readdir(dir)) if (entry !== 'demo.pid') await rm(join(dir, entry), { recursive: true, force: true });
    }
    return await start(dir, port, timing, release);
  } catch (err) {
    await release();
    throw err;
  }
}

async function start(dir, port, timing, release) {
  const { secrets, resumed } = await loadSecrets(dir);
  const clients = await Promise.all(CLIENTS.map(async (c) => ({
    clientId: c.clientId,
    clientSecretHash: await hashClientSecret(secrets[c.clientId]),
    scopes: c.scopes,
    audiences: [AUDIENCE],
    tokenTtl: TOKEN_TTL,
  })));
  const server = await createIssuerServer({
    listen: { host: '127.0.0.1', port },
    dataDir: join(dir, 'issuer'),
    signing: { algorithm: 'ES256', rotateEvery: timing.rotateEvery, prePublish: timing.prePublish },
    // Retired keys stay published for maxTtl after their last token: keep it short so the key set stays small.
    tokens: { defaultTtl: TOKEN_TTL, maxTtl: TOKEN_TTL },
    clients,
  });
  const url = server.url;
  const close = async () => {
    try {
      await server.close();
    } finally {
      await release();
    }
  };
  return { close, url, tokenUrl: `${url}/oauth/token`, secrets, resumed, dataDir: dir };
}
