import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { validateClient } from './config.js';
import { isSealed, seal, unseal, type SealedKey } from './lib/at-rest.js';
import { makeDirectory, readJsonFile, withFileLock, writeFileAtomic } from './lib/atomic-file.js';
import type { IssuerStore, StoreSection, StoredClient, StoredKey } from './store.js';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /** The folder (created with mode 0700). Files inside are written atomically with mode 0600. */
  dataDir: string;
  /** Encrypts private keys at rest (AES-256-GCM). Default `process.env.TOKENGUARD_MASTER_KEY`. */
  masterKey?: string;
  /** How often changes by other processes (the CLI) are looked for, in ms. Default 1000. */
  pollInterval?: number;
}

type DiskKey = Omit<StoredKey, 'privateJwk'> & { privateJwk?: JWK; sealed?: SealedKey };

const FILES: Record<StoreSection, string> = { clients: 'clients.json', keys: 'keys.json', revocations: 'revocations.json' };

function signature(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

function objectOf(value: unknown, file: string, member: string): Record<string, unknown> {
  if (value === undefined) return {};
  const inner = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[member] : undefined;
  if (typeof inner !== 'object' || inner === null) throw new Error(`${file}: "${member}" is missing or not an object`);
  return inner as Record<string, unknown>;
}

/**
 * The embedded file store: `clients.json`, `keys.json`, `revocations.json` in `dataDir`. Writes are atomic
 * (temp file + rename, 0600) under a lock file, so the CLI and a running `serve` can share the folder; a running
 * server notices changes within `pollInterval`. With a master key, private keys are stored only encrypted.
 * @example const store = createFileStore({ dataDir: '/var/lib/tokenguard' })
 */
export function createFileStore(options: FileStoreOptions): IssuerStore & { readonly encrypted: boolean } {
  if (typeof options?.dataDir !== 'string' || options.dataDir.length === 0) throw new TypeError('"dataDir" must be a non-empty string');
  const dir = options.dataDir;
  const masterKey = (options.masterKey ?? process.env.TOKENGUARD_MASTER_KEY) || undefined;
  const pollInterval = options.pollInterval ?? 1000;
  const path = (section: StoreSection) => join(dir, FILES[section]);
  const lockPath = join(dir, '.lock');
  const seen: Record<StoreSection, string> = { clients: '', keys: '', revocations: '' };
  let clients = new Map<string, StoredClient>();
  let keys: StoredKey[] = [];
  let revoked = new Map<string, number>();
  const listeners = new Set<(section: StoreSection) => void>();
  let timer: NodeJS.Timeout | undefined;

  function loadClients(): Map<string, StoredClient> {
    const raw = objectOf(readJsonFile(path('clients')), FILES.clients, 'clients');
    const map = new Map<string, StoredClient>();
    for (const [id, value] of Object.entries(raw)) {
      const client: StoredClient = validateClient(value, `${FILES.clients}: clients.${id}`);
      const createdAt = (value as StoredClient).createdAt;
      if (typeof createdAt === 'string') client.createdAt = createdAt;
      map.set(client.clientId, client);
    }
    return map;
  }

  function loadKeys(): StoredKey[] {
    const raw = readJsonFile(path('keys'));
    if (raw === undefined) return [];
    const list = (raw as { keys?: unknown }).keys;
    if (!Array.isArray(list)) throw new Error(`${FILES.keys}: "keys" must be an array`);
    return list.map((entry: DiskKey) => {
      if (typeof entry?.kid !== 'string' || typeof entry.activatesAt !== 'number' || typeof entry.publicJwk !== 'object') {
        throw new Error(`${FILES.keys}: a key entry is malformed`);
      }
      const { sealed, privateJwk, ...rest } = entry;
      if (isSealed(sealed)) {
        if (masterKey === undefined) throw new Error(`${FILES.keys} holds encrypted keys: set TOKENGUARD_MASTER_KEY`);
        return { ...rest, privateJwk: unseal(sealed, masterKey, entry.kid) };
      }
      if (typeof privateJwk !== 'object' || privateJwk === null) throw new Error(`${FILES.keys}: key entry without private key`);
      return { ...rest, privateJwk };
    });
  }

  function loadRevocations(): Map<string, number> {
    const raw = objectOf(readJsonFile(path('revocations')), FILES.revocations, 'revoked');
    return new Map(Object.entries(raw).filter((e): e is [string, number] => typeof e[1] === 'number'));
  }

  function reload(section: StoreSection): void {
    const sig = signature(path(section));
    if (section === 'clients') clients = loadClients();
    else if (section === 'keys') keys = loadKeys();
    else revoked = loadRevocations();
    seen[section] = sig;
  }

  function write(section: StoreSection, data: unknown): void {
    writeFileAtomic(path(section), `${JSON.stringify(data, null, 2)}\n`);
    seen[section] = signature(path(section));
  }

  function writeClients(map: Map<string, StoredClient>): void {
    write('clients', { version: 1, clients: Object.fromEntries(map) });
  }

  function writeKeys(list: StoredKey[]): void {
    const disk: DiskKey[] = list.map(({ privateJwk, ...rest }) => (masterKey === undefined ? { ...rest, privateJwk } : { ...rest, sealed: seal(privateJwk, masterKey, rest.kid) }));
    write('keys', { version: 1, encrypted: masterKey !== undefined, keys: disk });
  }

  // Every mutation re-reads the file under the lock, so a change made by another process is never lost.
  const locked = <T>(section: StoreSection, fn: () => T): Promise<T> =>
    withFileLock(lockPath, () => {
      reload(section);
      return fn();
    });

  function poll(): void {
    for (const section of Object.keys(FILES) as StoreSection[]) {
      if (signature(path(section)) === seen[section]) continue;
      try {
        reload(section);
      } catch {
        // A half-visible or broken file: keep the last good state; the next poll retries.
        continue;
      }
      for (const listener of listeners) listener(section);
    }
  }

  return {
    encrypted: masterKey !== undefined,
    async open() {
      makeDirectory(dir, 0o700);
      for (const section of Object.keys(FILES) as StoreSection[]) reload(section);
      if (timer === undefined && pollInterval > 0) {
        timer = setInterval(poll, pollInterval);
        timer.unref();
      }
    },
    async getClient(id) {
      const c = clients.get(id);
      return c && structuredClone(c);
    },
    async listClients() {
      return [...clients.values()].map((c) => structuredClone(c));
    },
    addClient: (client) =>
      locked('clients', () => {
        if (clients.has(client.clientId)) throw new Error(`client "${client.clientId}" already exists`);
        const next = new Map(clients).set(client.clientId, structuredClone(client));
        writeClients(next);
        clients = next;
      }),
    removeClient: (id) =>
      locked('clients', () => {
        if (!clients.has(id)) return false;
        const next = new Map(clients);
        next.delete(id);
        writeClients(next);
        clients = next;
        return true;
      }),
    async listKeys() {
      return structuredClone(keys);
    },
    updateKeys: (update) =>
      locked('keys', () => {
        const next = update(structuredClone(keys));
        if (next !== undefined) {
          writeKeys(next);
          keys = structuredClone(next);
        }
        return structuredClone(keys);
      }),
    revoke: (jti, expiresAt) =>
      locked('revocations', () => {
        const now = Date.now() / 1000;
        const next = new Map([...revoked].filter(([, exp]) => exp > now));
        next.set(jti, expiresAt);
        write('revocations', { version: 1, revoked: Object.fromEntries(next) });
        revoked = next;
      }),
    async isRevoked(jti) {
      const exp = revoked.get(jti);
      return exp !== undefined && exp > Date.now() / 1000;
    },
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      listeners.clear();
    },
  };
}
