/** Type tests of the public API (checked by `tsc -p tsconfig.test.json`, never run). */
import {
  createTokenProvider, isTokenUnavailableError, TokenUnavailableError,
  type TokenEvent, type TokenEventType, type TokenProvider, type TokenProviderOptions, type TokenUnavailableCode,
} from '@tokenguard/client';
import { Registry } from 'prom-client';
import { assertType, type Equals } from '../../../test/types/equals';

const tokens = createTokenProvider({ tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 's', scopes: ['a'], audience: 'api' });
assertType<Equals<typeof tokens, TokenProvider>>();
assertType<Equals<ReturnType<TokenProvider['getToken']>, Promise<string>>>();
assertType<Equals<ReturnType<TokenProvider['fetch']>, Promise<Response>>>();
assertType<Equals<ReturnType<TokenProvider['close']>, Promise<void>>>();
// tokens.fetch takes what fetch takes
const asFetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response> = tokens.fetch;
void asFetch;

// every option in use, with a real prom-client registry and a pino-shaped logger
const full: TokenProviderOptions = {
  issuer: 'https://idp.example', clientId: 'c', clientSecret: 's', scopes: 'a b', resource: ['https://api.example/'],
  authMethod: 'client_secret_post', extraParams: { tenant: 't' }, refreshAhead: 0.7, refreshJitter: 0.1, expiryMargin: '2s',
  defaultLifetime: 60, timeout: '3s', retry: { retries: 2, minDelay: '100ms', maxDelay: '2s', maxElapsed: 10 }, failureCooldown: '1s',
  forcedRefreshCooldown: '1s', metrics: { registry: new Registry(), prefix: 'svc_' },
  logger: { info: (_o: object, _m?: string) => undefined, warn: () => undefined }, onEvent: (e: TokenEvent) => void e.fingerprint,
  fetch: globalThis.fetch,
};
void full;

// @ts-expect-error clientSecret is required
createTokenProvider({ tokenUrl: 'https://idp.example/token', clientId: 'c' });
// @ts-expect-error only the two client_secret methods
createTokenProvider({ tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 's', authMethod: 'private_key_jwt' });

declare const err: unknown;
if (isTokenUnavailableError(err)) {
  assertType<Equals<typeof err, TokenUnavailableError>>();
  assertType<Equals<typeof err.code, TokenUnavailableCode>>();
  assertType<Equals<typeof err.error, string | undefined>>();
  assertType<Equals<typeof err.status, number | undefined>>();
}
assertType<Equals<TokenEventType, 'token.fetched' | 'token.refresh_failed' | 'token.unavailable'>>();
assertType<Equals<TokenUnavailableCode, 'request_rejected' | 'endpoint_unavailable' | 'timeout' | 'invalid_response' | 'discovery_failed' | 'closed'>>();
