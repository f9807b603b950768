/**
 * Events for metrics and audit logs. None carries a plaintext, a DEK, a KEK or a whole token:
 * only provider ids, key references (not secrets), counts, durations and error codes.
 */
import type { CmekErrorCode } from './errors';

export type KekOperation = 'generateDataKey' | 'unwrap' | 'unwrapMany' | 'rewrap' | 'wrap';

export interface KekCallEvent {
  readonly type: 'kek-call';
  readonly operation: KekOperation;
  readonly providerId: string;
  readonly keyRef: string;
  /** How many DEKs the call handled (1 except for `unwrapMany`). */
  readonly count: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly errorCode?: CmekErrorCode;
}

export interface CacheEvent {
  readonly type: 'cache-hit' | 'cache-miss';
  /** `encrypt`: the write-side DEK cache; `decrypt`: the LRU of unwrapped DEKs. */
  readonly cache: 'encrypt' | 'decrypt';
  readonly providerId: string;
  readonly keyRef: string;
}

export interface PlaintextReadEvent {
  readonly type: 'plaintext-read';
  readonly policy: 'allow' | 'warn';
  /** The field label from the encryption context (`context.field`), when there is one. */
  readonly field?: string;
}

export interface DecryptFailedEvent {
  readonly type: 'decrypt-failed';
  readonly errorCode: CmekErrorCode;
  readonly providerId?: string;
  readonly keyRef?: string;
  readonly field?: string;
}

export type CmekEvent = KekCallEvent | CacheEvent | PlaintextReadEvent | DecryptFailedEvent;

export type CmekEventListener = (event: CmekEvent) => void;
