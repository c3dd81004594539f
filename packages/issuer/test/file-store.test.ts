/**
 * (6) The embedded file store: mode 0600 files in a 0700 folder, atomic writes under a lock (no torn reads, no lost
 * updates between processes), private keys encrypted at rest with TOKENGUARD_MASTER_KEY.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileStore, createIssuerServer, generateSigningKey, hashClientSecret, type StoreSection } from '@tokenguard/issuer';
import { claimsOf, headerOf, makeClient, requestToken, tempDir } from './support';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('file store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  test('files are 0600 in a 0700 folder; with a master key no private key material is on disk', async () => {
    const data = join(dir, 'data');
    const store = createFileStore({ dataDir: data, masterKey: 'correct horse battery staple', pollInterval: 0 });
    await store.open();
    expect(store.encrypted).toBe(true);
    const key = await generateSigningKey('ES256', Date.now());
    await store.updateKeys(() => [key]);
    await store.addClient({ clientId: 'svc', clientSecretHash: await hashClientSecret('x'), scopes: ['a'], audiences: ['api'] });
    await store.revoke('jti-1', Math.floor(Date.now() / 1000) + 60);
    await store.close();

    expect((await stat(data)).mode & 0o777).toBe(0o700);
    for (const file of ['keys.json', 'clients.json', 'revocations.json']) expect((await stat(join(data, file))).mode & 0o777).toBe(0o600);
    const text = await readFile(join(data, 'keys.json'), 'utf8');
    expect(text).not.toMatch(/"d"\s*:/);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(key.privateJwk.d as string);
    expect(text).toContain('A256GCM+scrypt');
    expect(await readdir(data)).toEqual(expect.arrayContaining(['keys.json', 'clients.json', 'revocations.json']));
    expect((await readdir(data)).filter((f) => f.endsWith('.tmp') || f === '.lock')).toEqual([]);

    // The same master key decrypts; a wrong one or none is one clear error.
    const again = createFileStore({ dataDir: data, masterKey: 'correct horse battery staple', pollInterval: 0 });
    await again.open();
    expect((await again.listKeys())[0]!.privateJwk.d).toBe(key.privateJwk.d);
    expect(await again.isRevoked('jti-1')).toBe(true);
    await again.close();
    await expect(createFileStore({ dataDir: data, masterKey: 'wrong', pollInterval: 0 }).open()).rejects.toThrow(/TOKENGUARD_MASTER_KEY is wrong/);
    await expect(createFileStore({ dataDir: data, masterKey: '', pollInterval: 0 }).open()).rejects.toThrow(/set TOKENGUARD_MASTER_KEY/);
  });

  test('TOKENGUARD_MASTER_KEY from the environment is the default; without it keys are plaintext (documented)', async () => {
    const saved = process.env.TOKENGUARD_MASTER_KEY;
    try {
      process.env.TOKENGUARD_MASTER_KEY = 'from-env';
      const enc = createFileStore({ dataDir: join(dir, 'enc'), pollInterval: 0 });
      expect(enc.encrypted).toBe(true);
      delete process.env.TOKENGUARD_MASTER_KEY;
      const plain = createFileStore({ dataDir: join(dir, 'plain'), pollInterval: 0 });
      expect(plain.encrypted).toBe(false);
      await plain.open();
      await plain.updateKeys(() => []);
      await plain.updateKeys((keys) => keys);
      const key = await generateSigningKey('EdDSA', Date.now());
      await plain.updateKeys(() => [key]);
      expect(await readFile(join(dir, 'plain', 'keys.json'), 'utf8')).toMatch(/"d"\s*:/);
      expect((await stat(join(dir, 'plain', 'keys.json'))).mode & 0o777).toBe(0o600);
      await plain.close();
    } finally {
      if (saved === undefined) delete process.env.TOKENGUARD_MASTER_KEY;
      else process.env.TOKENGUARD_MASTER_KEY = saved;
    }
  });

  test('atomic: concurrent writers from two store instances lose nothing, a reader never sees a torn file', async () => {
    const a = createFileStore({ dataDir: dir, pollInterval: 0 });
    const b = createFileStore({ dataDir: dir, pollInterval: 0 });
    await a.open();
    await b.open();
    const hash = await hashClientSecret('x');
    let reads = 0;
    let torn = 0;
    let writing = true;
    const reader = (async () => {
      for (let i = 0; i < 5000 && writing; i++) {
        try {
          JSON.parse(await readFile(join(dir, 'clients.json'), 'utf8'));
          reads++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') torn++;
        }
        await sleep(1);
      }
    })();
    await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).addClient({ clientId: `c${i}`, clientSecretHash: hash, scopes: [], audiences: ['api'] })));
    writing = false;
    await reader;
    const c = createFileStore({ dataDir: dir, pollInterval: 0 });
    await c.open();
    expect((await c.listClients()).map((x) => x.clientId).sort()).toEqual(Array.from({ length: 24 }, (_, i) => `c${i}`).sort());
    expect(torn).toBe(0);
    expect(reads).toBeGreaterThan(0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp') || f === '.lock')).toEqual([]);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test('another process\'s change is seen by a watching store', async () => {
    const watcher = createFileStore({ dataDir: dir, pollInterval: 50 });
    const writer = createFileStore({ dataDir: dir, pollInterval: 0 });
    await watcher.open();
    await writer.open();
    const seen: StoreSection[] = [];
    watcher.watch!((s) => seen.push(s));
    await writer.addClient({ clientId: 'late', clientSecretHash: await hashClientSecret('x'), scopes: [], audiences: ['api'] });
    for (let i = 0; i < 40 && !seen.includes('clients'); i++) await sleep(25);
    expect(seen).toContain('clients');
    expect((await watcher.getClient('late'))?.clientId).toBe('late');
    await Promise.all([watcher.close(), writer.close()]);
  });

  test('a restarted server keeps its signing key and its revocations', async () => {
    const svc = await makeClient('svc', ['read'], ['api']);
    const config = { listen: { port: 0 }, dataDir: 'state', baseDir: dir, clients: [svc.config] };
    const first = await createIssuerServer(config);
    const token = (await requestToken(first.url, svc)).body.access_token as string;
    await first.revocations.revoke(claimsOf(token).jti as string, claimsOf(token).exp as number);
    const kid = first.keys()[0]!.kid;
    await first.close();
    const second = await createIssuerServer(config);
    try {
      expect(second.keys().map((k) => k.kid)).toEqual([kid]);
      expect(headerOf((await requestToken(second.url, svc)).body.access_token as string).kid).toBe(kid);
      expect(await second.revocations.isRevoked(claimsOf(token).jti as string)).toBe(true);
      expect((await stat(join(dir, 'state', 'keys.json'))).isFile()).toBe(true);
    } finally {
      await second.close();
    }
  });

  test('a corrupt store file is one clear error at start, never a crash later', async () => {
    const store = createFileStore({ dataDir: dir, pollInterval: 0 });
    await store.open();
    await store.close();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'clients.json'), '{"clients":', { mode: 0o600 });
    await expect(createIssuerServer({ listen: { port: 0 }, dataDir: dir })).rejects.toThrow(/clients\.json is not valid JSON/);
  });
});
