import type { Logger } from '@tokenguard/core';

/** Audit event types of the issuer. */
export type IssuerEventType =
  | 'token.issued' | 'token.refused' | 'token.revoked' | 'token.introspected'
  | 'client.auth_failed' | 'key.added' | 'key.activated' | 'key.removed';

/** One audit event of the issuer. Never holds a secret or a token: `fingerprint` identifies a token. */
export interface IssuerEvent {
  type: IssuerEventType;
  /** ISO time. */
  time: string;
  clientId?: string;
  jti?: string;
  kid?: string;
  /** Short SHA-256 fingerprint of a token. */
  fingerprint?: string;
  /** The RFC 6749 error of a refusal. */
  error?: string;
  /** Remote address of the request (never a metric label). */
  ip?: string;
  /** Extra safe fields (scopes, audiences, lifetimes, previous kid). */
  [field: string]: unknown;
}

const LEVEL: Record<IssuerEventType, 'info' | 'warn'> = {
  'token.issued': 'info', 'token.refused': 'warn', 'token.revoked': 'info', 'token.introspected': 'info',
  'client.auth_failed': 'warn', 'key.added': 'info', 'key.activated': 'info', 'key.removed': 'info',
};

/** Builds the emitter that sends each event to `onEvent` and to `logger`; a throwing listener never breaks a request. */
export function createEmitter(onEvent?: (event: IssuerEvent) => void, logger?: Logger): (event: Omit<IssuerEvent, 'time'>) => void {
  return (partial) => {
    const event = { ...partial, time: new Date().toISOString() } as IssuerEvent;
    try {
      onEvent?.(event);
    } catch { /* listeners must not break issuance */ }
    try {
      logger?.[LEVEL[event.type]](event, `tokenguard issuer: ${event.type}`);
    } catch { /* idem */ }
  };
}
