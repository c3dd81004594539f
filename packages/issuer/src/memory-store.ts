import type { IssuerStore, StoredClient, StoredKey } from './store.js';

/**
 * An {@link IssuerStore} in memory: for tests and embedding; state is lost on exit.
 * @example const store = createMemoryStore()
 */
export function createMemoryStore(): IssuerStore {
  const clients = new Map<string, StoredClient>();
  let keys: StoredKey[] = [];
  const revoked = new Map<string, number>();
  const clone = <T>(v: T): T => structuredClone(v);
  return {
    async open() {},
    async getClient(id) {
      const c = clients.get(id);
      return c && clone(c);
    },
    async listClients() {
      return [...clients.values()].map(clone);
    },
    async addClient(client) {
      if (clients.has(client.clientId)) throw new Error(`client "${client.clientId}" already exists`);
      clients.set(client.clientId, clone(client));
    },
    async removeClient(id) {
      return clients.delete(id);
    },
    async listKeys() {
      return clone(keys);
    },
    async updateKeys(update) {
      const next = update(clone(keys));
      if (next !== undefined) keys = clone(next);
      return clone(keys);
    },
    async revoke(jti, expiresAt) {
      const now = Date.now() / 1000;
      for (const [k, exp] of revoked) if (exp <= now) revoked.delete(k);
      revoked.set(jti, expiresAt);
    },
    async isRevoked(jti) {
      const exp = revoked.get(jti);
      return exp !== undefined && exp > Date.now() / 1000;
    },
    async close() {},
  };
}
