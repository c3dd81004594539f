import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { toSeconds, type Duration, type Logger } from '@tokenguard/core';
import type { IssuerStore } from './store.js';
import type { IssuerEvent } from './events.js';
import { SCOPE_TOKEN } from './grant.js';

/** Most keys the JWKS may hold at once (half of what verifiers accept by default, 100). */
const MAX_PUBLISHED_KEYS = 50;

/** Signing algorithms the issuer can sign with. ES256 is the default. */
export type SigningAlgorithm = 'ES256' | 'RS256' | 'PS256' | 'EdDSA';

/** The signing algorithms, in the order they are documented. */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze(['ES256', 'RS256', 'PS256', 'EdDSA']);

/** One client declared in the configuration (clients can also live in the data store). */
export interface ClientConfig {
  /** The `client_id`; 1-128 characters from `A-Z a-z 0-9 . _ ~ : -`. */
  clientId: string;
  /** `scrypt$...` hash of the secret, as printed by `hashClientSecret()` or stored by `client add`. */
  clientSecretHash: string;
  /** Scopes the client may request (least privilege: requests must be a subset). Default none. */
  scopes?: string[];
  /** Audiences (`resource` URIs or `audience` strings) the client may request. */
  audiences?: string[];
  /** Lifetime of the client's tokens; capped by `tokens.maxTtl`. Default `tokens.defaultTtl`. */
  tokenTtl?: Duration;
}

/**
 * The issuer configuration: the JSON file of the CLI and the object of {@link createIssuerServer}.
 * @example
 * { "listen": { "host": "127.0.0.1", "port": 4000 }, "dataDir": "./.tokenguard",
 *   "signing": { "algorithm": "ES256", "rotateEvery": "24h", "prePublish": "15m" } }
 */
export interface IssuerConfig {
  /** The `iss` of every token and the metadata `issuer`, byte for byte. Default: the server's own URL. */
  issuer?: string;
  /** Where to listen. Default `{ host: '127.0.0.1', port: 4000 }`; port 0 picks a free port. */
  listen?: { host?: string; port?: number };
  /** Folder of the file store; relative to the config file (CLI) or to `baseDir`. Default: in memory for the library, `./.tokenguard` for the CLI. */
  dataDir?: string;
  /** Folder `dataDir` is resolved against. Set by {@link loadConfigFile} to the config file's folder. Default `process.cwd()`. */
  baseDir?: string;
  signing?: {
    /** Default `'ES256'`. */
    algorithm?: SigningAlgorithm;
    /** How long a key signs. Default `'24h'`. */
    rotateEvery?: Duration;
    /** How long a new key is published before it signs; must exceed the verifiers' key-set cache age. Default `'15m'`. */
    prePublish?: Duration;
    /** Extra time a retired key stays published after its last token expired. Default `'5s'`. */
    clockTolerance?: Duration;
  };
  tokens?: {
    /** Default `'10m'`. */
    defaultTtl?: Duration;
    /** Cap on every client's token lifetime. Default `'1h'`. */
    maxTtl?: Duration;
  };
  /** Clients declared in the config; merged with the data store's (config wins on the same id). */
  clients?: ClientConfig[];
  /** Failed client authentication limits (per fixed window). Default `{ window: '1m', perClient: 20, perAddress: 10 }`. */
  rateLimit?: { window?: Duration; perClient?: number; perAddress?: number };
  /** Library only: a custom store (e.g. `@tokenguard/redis`); overrides `dataDir`. */
  store?: IssuerStore;
  /** Library only: audit events (issuance, refusal, revocation, rotation); never holds a secret or a token. */
  onEvent?: (event: IssuerEvent) => void;
  /** Library only: a pino-compatible logger for the audit events. */
  logger?: Logger;
}

/** The configuration with every default applied and every duration in seconds. */
export interface ResolvedConfig {
  issuer: string | undefined;
  host: string;
  port: number;
  dataDir: string | undefined;
  algorithm: SigningAlgorithm;
  rotateEvery: number;
  prePublish: number;
  clockTolerance: number;
  defaultTtl: number;
  maxTtl: number;
  clients: ClientConfig[];
  rateLimit: { window: number; perClient: number; perAddress: number };
  store: IssuerStore | undefined;
  onEvent: ((event: IssuerEvent) => void) | undefined;
  logger: Logger | undefined;
}

const TOP_LEVEL = new Set(['issuer', 'listen', 'dataDir', 'baseDir', 'signing', 'tokens', 'clients', 'rateLimit', 'store', 'onEvent', 'logger', '$schema']);
const CLIENT_ID = /^[A-Za-z0-9._~:-]{1,128}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new TypeError(`unknown option "${where}${key}"`);
  }
}

function section(value: unknown, name: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TypeError(`"${name}" must be an object`);
  checkKeys(value, allowed, `${name}.`);
  return value;
}

function duration(value: unknown, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const seconds = toSeconds(value as Duration, name);
  if (seconds < min) throw new TypeError(`"${name}" must be at least ${min} ${min === 1 ? 'second' : 'seconds'}`);
  return seconds;
}

function stringList(value: unknown, name: string, pattern?: RegExp): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0 || v.length > 512 || (pattern !== undefined && !pattern.test(v)))) {
    throw new TypeError(`"${name}" must be an array of non-empty strings${pattern ? ' without spaces, quotes or backslashes' : ''}`);
  }
  return [...new Set(value as string[])];
}

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TypeError(`"${name}" must be a positive integer`);
  return value;
}

/** Validates one client entry (config file, store or `client add`) and returns a normalised copy. Throws a `TypeError` naming the field. */
export function validateClient(value: unknown, name = 'client'): ClientConfig {
  if (!isObject(value)) throw new TypeError(`"${name}" must be an object`);
  checkKeys(value, ['clientId', 'clientSecretHash', 'scopes', 'audiences', 'tokenTtl', 'createdAt'], `${name}.`);
  if (typeof value.clientId !== 'string' || !CLIENT_ID.test(value.clientId)) {
    throw new TypeError(`"${name}.clientId" must be 1-128 characters from A-Z a-z 0-9 . _ ~ : -`);
  }
  if (typeof value.clientSecretHash !== 'string' || !value.clientSecretHash.startsWith('scrypt$')) {
    throw new TypeError(`"${name}.clientSecretHash" must be a scrypt$... hash (see "tokenguard-issuer client add")`);
  }
  const client: ClientConfig = {
    clientId: value.clientId,
    clientSecretHash: value.clientSecretHash,
    scopes: stringList(value.scopes, `${name}.scopes`, SCOPE_TOKEN),
    audiences: stringList(value.audiences, `${name}.audiences`),
  };
  if (value.tokenTtl !== undefined) {
    duration(value.tokenTtl, `${name}.tokenTtl`, 0, 1);
    client.tokenTtl = value.tokenTtl as Duration;
  }
  return client;
}

/**
 * Validates a configuration and applies the defaults. A bad option is a programmer error: a `TypeError`
 * whose message names the option.
 * @example resolveConfig({ listen: { port: 0 } }).rotateEvery // 86400
 */
export function resolveConfig(config: IssuerConfig): ResolvedConfig {
  if (!isObject(config)) throw new TypeError('the issuer configuration must be an object');
  for (const key of Object.keys(config)) if (!TOP_LEVEL.has(key)) throw new TypeError(`unknown option "${key}"`);
  let issuer: string | undefined;
  if (config.issuer !== undefined) {
    if (typeof config.issuer !== 'string' || !URL.canParse(config.issuer) || !/^https?:$/.test(new URL(config.issuer).protocol)) {
      throw new TypeError('"issuer" must be an absolute http(s) URL');
    }
    const url = new URL(config.issuer);
    if (url.search || url.hash) throw new TypeError('"issuer" must not have a query or fragment (RFC 8414)');
    issuer = config.issuer;
  }
  const listen = section(config.listen, 'listen', ['host', 'port']);
  const host = listen.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('"listen.host" must be a non-empty string');
  const port = listen.port ?? 4000;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError('"listen.port" must be an integer from 0 to 65535');
  if (config.baseDir !== undefined && typeof config.baseDir !== 'string') throw new TypeError('"baseDir" must be a string');
  let dataDir: string | undefined;
  if (config.dataDir !== undefined) {
    if (typeof config.dataDir !== 'string' || config.dataDir.length === 0) throw new TypeError('"dataDir" must be a non-empty string');
    dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(config.baseDir ?? process.cwd(), config.dataDir);
  }
  const signing = section(config.signing, 'signing', ['algorithm', 'rotateEvery', 'prePublish', 'clockTolerance']);
  const algorithm = signing.algorithm ?? 'ES256';
  if (!SIGNING_ALGORITHMS.includes(algorithm as SigningAlgorithm)) throw new TypeError(`"signing.algorithm" must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const rotateEvery = duration(signing.rotateEvery, 'signing.rotateEvery', 86_400, 0.1);
  const prePublish = duration(signing.prePublish, 'signing.prePublish', Math.min(900, rotateEvery / 2));
  if (prePublish >= rotateEvery) throw new TypeError('"signing.prePublish" must be shorter than "signing.rotateEvery"');
  const clockTolerance = duration(signing.clockTolerance, 'signing.clockTolerance', 5);
  const tokens = section(config.tokens, 'tokens', ['defaultTtl', 'maxTtl']);
  const maxTtl = duration(tokens.maxTtl, 'tokens.maxTtl', 3600, 1);
  const defaultTtl = duration(tokens.defaultTtl, 'tokens.defaultTtl', Math.min(600, maxTtl), 1);
  if (defaultTtl > maxTtl) throw new TypeError('"tokens.defaultTtl" must not exceed "tokens.maxTtl"');
  // A retired key stays published until its last token expires, so the JWKS holds about
  // (maxTtl + clockTolerance) / rotateEvery retired keys plus the active and next ones. Verifiers cap a key
  // set (tokenguard at 100 keys by default) and refuse a larger one whole: keep well under that.
  const publishedKeys = 2 + Math.ceil((maxTtl + clockTolerance) / rotateEvery);
  if (publishedKeys > MAX_PUBLISHED_KEYS) {
    throw new TypeError(`"signing.rotateEvery" is too short for "tokens.maxTtl": about ${publishedKeys} keys would be published at once (at most ${MAX_PUBLISHED_KEYS}); rotate less often or shorten tokens.maxTtl`);
  }
  if (config.clients !== undefined && !Array.isArray(config.clients)) throw new TypeError('"clients" must be an array');
  const clients = (config.clients ?? []).map((c, i) => validateClient(c, `clients[${i}]`));
  const ids = new Set<string>();
  for (const c of clients) {
    if (ids.has(c.clientId)) throw new TypeError(`"clients" declares "${c.clientId}" twice`);
    ids.add(c.clientId);
  }
  const rate = section(config.rateLimit, 'rateLimit', ['window', 'perClient', 'perAddress']);
  const rateLimit = {
    window: duration(rate.window, 'rateLimit.window', 60, 0.001),
    perClient: positiveInt(rate.perClient, 'rateLimit.perClient', 20),
    perAddress: positiveInt(rate.perAddress, 'rateLimit.perAddress', 10),
  };
  if (config.onEvent !== undefined && typeof config.onEvent !== 'function') throw new TypeError('"onEvent" must be a function');
  return {
    issuer, host, port, dataDir, algorithm: algorithm as SigningAlgorithm, rotateEvery, prePublish, clockTolerance, defaultTtl, maxTtl,
    clients, rateLimit, store: config.store as IssuerStore | undefined, onEvent: config.onEvent as ResolvedConfig['onEvent'], logger: config.logger as Logger | undefined,
  };
}

/**
 * Reads a JSON configuration file. `dataDir` is resolved against the file's folder (default `./.tokenguard`).
 * Throws an `Error` with a one-line message when the file is missing or not JSON.
 * @example const config = loadConfigFile('./issuer.json')
 */
export function loadConfigFile(path: string): IssuerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(parsed)) throw new Error(`config file ${path} must hold a JSON object`);
  for (const key of ['store', 'onEvent', 'logger', 'baseDir']) {
    if (key in parsed) throw new Error(`config file ${path}: "${key}" can only be set from code`);
  }
  return { ...parsed, dataDir: (parsed.dataDir as string | undefined) ?? './.tokenguard', baseDir: dirname(resolve(path)) } as IssuerConfig;
}
