/** Helpers shared by the issuer tests: clients with real scrypt hashes, temp data dirs, token requests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashClientSecret, type ClientConfig } from '@tokenguard/issuer';

export interface TestClient {
  config: ClientConfig;
  id: string;
  secret: string;
}

/** A client with a fresh random secret and its real scrypt hash. */
export async function makeClient(id: string, scopes: string[], audiences: string[], extra: Partial<ClientConfig> = {}): Promise<TestClient> {
  const secret = `s3cret-${id}-${Math.random().toString(36).slice(2)}`;
  return { id, secret, config: { clientId: id, clientSecretHash: await hashClientSecret(secret), scopes, audiences, ...extra } };
}

/** A temp folder; `cleanup()` removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenguard-issuer-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `application/x-www-form-urlencoded` of the pairs, in order (a pair may repeat a name). */
export function form(pairs: ReadonlyArray<readonly [string, string]>): string {
  return new URLSearchParams(pairs as [string, string][]).toString();
}

/** `Basic` credentials per RFC 6749 §2.3.1 (form-encoded id and secret). */
export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a body and parses the JSON answer (an empty body parses to `{}`). */
export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Requests a token with client_secret_basic. */
export async function requestToken(baseUrl: string, client: TestClient, pairs: ReadonlyArray<readonly [string, string]> = []): Promise<Answer> {
  return post(`${baseUrl}/oauth/token`, form([['grant_type', 'client_credentials'], ...pairs]), { authorization: basic(client.id, client.secret) });
}

/** The decoded payload of a compact JWT (no verification: for assertions only). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The decoded protected header of a compact JWT. */
export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
