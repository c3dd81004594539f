export { TokenError, isTokenError, errorResponse, ERROR_CODES, ERROR_TABLE } from './errors.js';
export type { TokenErrorCode, ErrorBody, TokenErrorOptions } from './errors.js';
export type * from './types.js';
export type { Duration } from './lib/duration.js';
export { toSeconds, optionalSeconds } from './lib/duration.js';
