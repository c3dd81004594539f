#!/usr/bin/env node
/**
 * The `tokenguard-issuer` command line: serve, manage clients and keys, mint dev tokens.
 * Every failure prints one line on stderr and exits non-zero (2: bad usage, 1: bad config or runtime error).
 */
import { parseArgs } from 'node:util';
import { loadConfigFile, resolveConfig, validateClient, type IssuerConfig, type ResolvedConfig } from './config.js';
import { createFileStore } from './file-store.js';
import { createIssuer } from './issuer.js';
import { KeyManager } from './key-manager.js';
import { createIssuerServer, urlOf } from './server.js';
import { generateClientSecret, hashClientSecret } from './lib/secret-hash.js';
import type { IssuerStore, StoredClient } from './store.js';

const USAGE = `usage: tokenguard-issuer <command> --config FILE [options]
  serve                                   run the token service (the default when only --config is given)
  client add --id ID [--scopes a,b] [--audiences x,y] [--ttl 5m] [--json]
  client list [--json]
  client remove --id ID
  keys list [--json]
  keys rotate [--now]
  token --client ID [--scope "a b"] [--audience x] [--json]   mint a dev token`;

class UsageError extends Error {}

const OPTIONS = {
  config: { type: 'string' }, id: { type: 'string' }, scopes: { type: 'string' }, audiences: { type: 'string' },
  ttl: { type: 'string' }, json: { type: 'boolean' }, now: { type: 'boolean' }, client: { type: 'string' },
  scope: { type: 'string' }, audience: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
} as const;

const ALLOWED: Record<string, readonly string[]> = {
  serve: ['config'],
  'client add': ['config', 'id', 'scopes', 'audiences', 'ttl', 'json'],
  'client list': ['config', 'json'],
  'client remove': ['config', 'id'],
  'keys list': ['config', 'json'],
  'keys rotate': ['config', 'now'],
  token: ['config', 'client', 'scope', 'audience', 'json'],
};

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function required(values: Values, name: 'id' | 'client' | 'config'): string {
  const v = values[name];
  if (v === undefined || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

function load(values: Values): { config: IssuerConfig; cfg: ResolvedConfig } {
  const config = loadConfigFile(required(values, 'config'));
  return { config, cfg: resolveConfig(config) };
}

async function withStore<T>(cfg: ResolvedConfig, fn: (store: IssuerStore) => Promise<T>): Promise<T> {
  const store = createFileStore({ dataDir: cfg.dataDir!, pollInterval: 0 });
  await store.open();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function clientAdd(values: Values): Promise<void> {
  const { cfg } = load(values);
  const id = required(values, 'id');
  if (cfg.clients.some((c) => c.clientId === id)) throw new Error(`client "${id}" is declared in the config file`);
  const secret = generateClientSecret();
  const client: StoredClient = validateClient({
    clientId: id, clientSecretHash: await hashClientSecret(secret), scopes: list(values.scopes), audiences: list(values.audiences),
    ...(values.ttl !== undefined ? { tokenTtl: values.ttl } : {}),
  }, 'client');
  client.createdAt = new Date().toISOString();
  await withStore(cfg, (store) => store.addClient(client));
  if (client.audiences === undefined || client.audiences.length === 0) {
    process.stderr.write(`warning: client "${id}" has no --audiences: it cannot obtain tokens (every token names an audience) until it is re-added with some\n`);
  }
  // The secret is shown this once; only its scrypt hash is stored.
  if (values.json) out(JSON.stringify({ client_id: id, client_secret: secret, scopes: client.scopes, audiences: client.audiences }));
  else {
    out(`client_id: ${id}`);
    out(`client_secret: ${secret}`);
    process.stderr.write('store the secret now: it is not shown again\n');
  }
}

async function clientList(values: Values): Promise<void> {
  const { cfg } = load(values);
  const stored = await withStore(cfg, (store) => store.listClients());
  const rows = [
    ...cfg.clients.map((c) => ({ client_id: c.clientId, scopes: c.scopes ?? [], audiences: c.audiences ?? [], source: 'config' })),
    ...stored.filter((c) => !cfg.clients.some((k) => k.clientId === c.clientId))
      .map((c) => ({ client_id: c.clientId, scopes: c.scopes ?? [], audiences: c.audiences ?? [], source: 'store' })),
  ];
  if (values.json) return out(JSON.stringify(rows));
  for (const r of rows) out(`${r.client_id}\tscopes=${r.scopes.join(',')}\taudiences=${r.audiences.join(',')}\tsource=${r.source}`);
}

async function clientRemove(values: Values): Promise<void> {
  const { cfg } = load(values);
  const id = required(values, 'id');
  if (cfg.clients.some((c) => c.clientId === id)) throw new Error(`client "${id}" is declared in the config file: remove it there`);
  if (!(await withStore(cfg, (store) => store.removeClient(id)))) throw new Error(`no client "${id}" in the store`);
  out(`removed: ${id}`);
}

async function keysCommand(values: Values, rotate: boolean): Promise<void> {
  const { cfg } = load(values);
  await withStore(cfg, async (store) => {
    const keys = new KeyManager(store, cfg);
    await keys.init();
    if (rotate) {
      const key = await keys.rotate({ now: values.now === true });
      out(`rotated: ${key.kid} (${key.alg}) signs from ${key.activatesAt.toISOString()}`);
      return;
    }
    const info = keys.info();
    if (values.json) return out(JSON.stringify(info));
    for (const k of info) {
      out(`${k.kid}\t${k.alg}\t${k.state}\tactivates=${k.activatesAt.toISOString()}${k.removeAt ? `\tremove=${k.removeAt.toISOString()}` : ''}`);
    }
  });
}

async function token(values: Values): Promise<void> {
  const { config, cfg } = load(values);
  const clientId = required(values, 'client');
  let issuer = cfg.issuer;
  if (issuer === undefined) {
    if (cfg.port === 0) throw new Error('set "issuer" in the config file to mint tokens from the CLI when listen.port is 0');
    issuer = urlOf(cfg.host, cfg.port);
  }
  const instance = await createIssuer({ ...config, issuer });
  try {
    const scopes = values.scope === undefined ? undefined : values.scope.split(' ').filter((s) => s.length > 0);
    const res = await instance.issueToken(clientId, { ...(scopes ? { scopes } : {}), ...(values.audience ? { audiences: values.audience } : {}) });
    out(values.json ? JSON.stringify(res) : res.access_token);
  } finally {
    await instance.close();
  }
}

async function serve(values: Values): Promise<void> {
  const { config, cfg } = load(values);
  if (!process.env.TOKENGUARD_MASTER_KEY) process.stderr.write(`warning: TOKENGUARD_MASTER_KEY is not set: private keys in ${cfg.dataDir} are not encrypted at rest\n`);
  const log = (level: string) => (obj: object, msg?: string) => process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj })}\n`);
  const server = await createIssuerServer({ ...config, logger: { info: log('info'), warn: log('warn'), error: log('error') } });
  out(`tokenguard-issuer listening on ${server.url} (issuer ${server.issuer})`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Runs the CLI with `argv` (without `node` and the script). Resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message.split('\n')[0]!);
    }
    const values = parsed.values as Values;
    // `tokenguard-issuer --config FILE` with no command serves, as `npx tokenguard-issuer --config issuer.json` reads.
    const [first, second, ...rest] = parsed.positionals.length === 0 && values.config !== undefined && !values.help
      ? ['serve'] : parsed.positionals;
    if (values.help || first === undefined || first === 'help') {
      out(USAGE);
      return values.help || first === 'help' ? 0 : 2;
    }
    const command = first === 'client' || first === 'keys' ? `${first} ${second ?? ''}`.trim() : first;
    const extra = first === 'client' || first === 'keys' ? rest : [second, ...rest].filter((p) => p !== undefined);
    if (!(command in ALLOWED)) throw new UsageError(`unknown command "${command}" (try --help)`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    for (const name of Object.keys(values)) {
      if (!ALLOWED[command]!.includes(name)) throw new UsageError(`option --${name} is not valid for "${command}"`);
    }
    switch (command) {
      case 'serve': await serve(values); break;
      case 'client add': await clientAdd(values); break;
      case 'client list': await clientList(values); break;
      case 'client remove': await clientRemove(values); break;
      case 'keys list': await keysCommand(values, false); break;
      case 'keys rotate': await keysCommand(values, true); break;
      case 'token': await token(values); break;
    }
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tokenguard-issuer: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code;
});
