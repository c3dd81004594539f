/**
 * `@tokenguard/client`: access tokens for calling services (OAuth 2.0 client credentials), fetched on
 * demand, cached in memory, refreshed ahead of expiry, never handed out expired.
 *
 * @example
 * import { createTokenProvider } from '@tokenguard/client';
 * const tokens = createTokenProvider({ tokenUrl, clientId, clientSecret, scopes: ['orders:read'], audience: 'orders-api' });
 * const res = await tokens.fetch('http://orders/api/orders');
 */
export { createTokenProvider } from './provider.js';
export type { TokenProvider, TokenProviderOptions } from './provider.js';
export { TokenUnavailableError, isTokenUnavailableError } from './errors.js';
export type { TokenUnavailableCode, TokenUnavailableDetails } from './errors.js';
export type { RetryOptions, RequestOptionsInput } from './lib/options.js';
export type { ClientLogger, ClientMetricsOptions, MetricsRegistry, TokenEvent, TokenEventType } from './lib/telemetry.js';
export type { Duration } from './lib/duration.js';
