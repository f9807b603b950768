/**
 * Events for metrics and audit logs. None carries a plaintext, a DEK, a KEK or a whole token:
 * only provider ids, key references (not secrets), counts, durations and error codes.
 */
import type { CmekErrorCode } from './errors';

/**
 * The tenant id of an event of a tenant envelope's (`createTenantEnvelope`): which tenant's inner
 * envelope emitted it. Not a secret; absent on the events of a plain envelope.
 */
export interface TenantTagged {
  readonly tenant?: string;
}

/** `health`: the one `generateDataKey` of `envelope.health()`, its DEK zeroed at once. */
export type KekOperation =
  | 'generateDataKey'
  | 'unwrap'
  | 'unwrapMany'
  | 'rewrap'
  | 'wrap'
  | 'health';

export interface KekCallEvent extends TenantTagged {
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

/**
 * The caches of an envelope: `encrypt` the write-side DEK, `decrypt` the LRU of unwrapped DEKs,
 * `value-key` the LRU of value keys derived from them.
 */
export type CacheName = 'encrypt' | 'decrypt' | 'value-key';

export interface CacheEvent extends TenantTagged {
  readonly type: 'cache-hit' | 'cache-miss';
  /**
   * `encrypt` and `decrypt`: one lookup per DEK and envelope call; `value-key`: one per value
   * read under a cached DEK.
   */
  readonly cache: CacheName;
  readonly providerId: string;
  readonly keyRef: string;
}

export interface PlaintextReadEvent extends TenantTagged {
  readonly type: 'plaintext-read';
  readonly policy: 'allow' | 'warn';
  /** The field label from the encryption context (`context.field`), when there is one. */
  readonly field?: string;
}

export interface DecryptFailedEvent extends TenantTagged {
  readonly type: 'decrypt-failed';
  readonly errorCode: CmekErrorCode;
  readonly providerId?: string;
  readonly keyRef?: string;
  readonly field?: string;
}

/** Why a cache dropped (and zeroed) key material. */
export type EvictionReason = 'capacity' | 'expired' | 'uses' | 'close' | 'access-denied';

/**
 * DEKs or value keys dropped from a cache and zeroed. `capacity`: the LRU was full; `expired`:
 * past `maxAgeMs` (and past `staleGraceMs`); `uses`: the write DEK reached `maxUses`; `close`:
 * `envelope.close()`; `access-denied`: the KEK refused a call for this key reference, so every
 * cached DEK of it is dropped at once.
 */
export interface CacheEvictEvent extends TenantTagged {
  readonly type: 'cache-evict';
  readonly cache: CacheName;
  readonly reason: EvictionReason;
  readonly providerId: string;
  readonly keyRef: string;
  /** Entries dropped at once; absent for 1. */
  readonly count?: number;
}

/** A cached DEK used past its `maxAgeMs` because the KEK answered `CMEK_KEK_UNAVAILABLE`. */
export interface StaleDekUsedEvent extends TenantTagged {
  readonly type: 'stale-dek-used';
  readonly cache: 'encrypt' | 'decrypt';
  readonly providerId: string;
  readonly keyRef: string;
  /** How far past its `maxAgeMs` the DEK was (at most `staleGraceMs`). */
  readonly overAgeMs: number;
}

/** One per successful envelope call that handled values (never one per value). */
export interface ValuesEvent extends TenantTagged {
  readonly type: 'values';
  readonly operation: 'encrypt' | 'decrypt';
  /** Non-null values the call handled (legacy plaintext read included). */
  readonly count: number;
  /** The field label from the encryption context (`context.field`), when there is one. */
  readonly field?: string;
}

export type CmekEvent =
  | KekCallEvent
  | CacheEvent
  | PlaintextReadEvent
  | DecryptFailedEvent
  | CacheEvictEvent
  | StaleDekUsedEvent
  | ValuesEvent;

export type CmekEventListener = (event: CmekEvent) => void;
