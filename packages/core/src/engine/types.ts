/** The options, reports and progress events of the backfill / rewrap / verify engine. */
import type { BlindIndexer } from '../blind-index-keys';
import type { Envelope } from '../envelope-types';
import type { CmekErrorCode } from '../errors';
import type { CmekEventListener } from '../events';
import type { KekCallHook } from '../kek-call-hook';
import type { Keyring } from '../keyring';
import type { Cursor } from '../row-store';
import type { CheckpointStore } from './checkpoint';
import type { WriteFieldReport } from './reports';
import type { RewrapCache } from './rewrap-cache';

export type { IndexWriteCounts, WriteFieldReport } from './reports';

export type EngineOperation = 'backfill' | 'rewrap' | 'verify';

export interface ProgressEvent {
  readonly operation: EngineOperation;
  readonly store: string;
  /** The tenant of a run scoped to one (`{ tenant }`). */
  readonly tenant?: string;
  /**
   * `batch` after each batch is written (and checkpointed); `retry` after a conflict round;
   * `failed` when the run throws (after `start`; the error is rethrown, no `done` follows).
   */
  readonly phase: 'start' | 'batch' | 'retry' | 'done' | 'failed';
  /** Rows scanned so far (including the rows of a resumed run). */
  readonly rows: number;
  /** Values written so far (0 in a dry run). */
  readonly written: number;
  /** Compare-and-set writes lost to a concurrent change so far. */
  readonly conflicts: number;
  /** The last primary key processed, or `null` before the first batch. */
  readonly cursor: Cursor | null;
  /**
   * The rows of the store when the run started, from the store's optional `count()` (called
   * once); absent when the store has none, or its count failed. `rows` can pass it when the
   * application inserts rows during the run, or when the count is an estimate.
   */
  readonly total?: number;
  /**
   * On `batch` and `retry`: how long the batch (or conflict round) this event closes took, in
   * milliseconds: scan, plan (KEK calls), writes and checkpoint.
   */
  readonly batchDurationMs?: number;
  /** On `failed`: the `CmekError` code the run stopped with, `_OTHER` for any other error. */
  readonly errorCode?: CmekErrorCode | '_OTHER';
}

export type ProgressListener = (event: ProgressEvent) => void;

export interface EngineOptions {
  /** Rows read per `scan`. Default 500. */
  batchSize?: number;
  /** Writes and KEK calls in flight at once. Default 8. */
  concurrency?: number;
  /** Read and count only: nothing is written, no KEK is called, no checkpoint is saved. */
  dryRun?: boolean;
  /** Stops after the writes in flight; the checkpoint stays at the last completed batch. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Where the cursor is kept between batches; without one the run starts at the first row. */
  checkpoint?: CheckpointStore;
  /** Rounds of re-reading rows whose compare-and-set lost to a concurrent write. Default 3. */
  conflictRetries?: number;
  /**
   * Only this tenant's rows: the store must declare `tenantColumn` (`CmekConfigError`
   * otherwise) and its scan filter by it. The checkpoint records the tenant, so a resume of one
   * tenant never continues another's run. Default: the whole store.
   */
  tenant?: string;
}

export interface BackfillOptions extends EngineOptions {
  /** Encrypts under the store's `contextFor(field)`, with the envelope's primary KEK. */
  envelope: Envelope;
  /**
   * Computes the blind indexes of a store that declares `blindIndexes` (required then; a
   * `CmekConfigError` without it). Ignored for a store without.
   */
  indexer?: BlindIndexer;
  /**
   * Also decrypt every token whose index columns already hold a value of the current key and
   * mode, recompute its index, and rewrite the columns whose stored value differs (what `verify`
   * reports as `mismatched`), under the same compare-and-set guard (the token). One KEK call per
   * DEK, as a verify. Without it only missing indexes and indexes of another key or mode are
   * written. A dry run does not decrypt, so it counts only those. Default false.
   */
  reindex?: boolean;
}

export interface RewrapOptions extends EngineOptions {
  /** Tokens not under `keyring.primary` are moved to it; the others route through the keyring. */
  keyring: Keyring;
  /** Receives the KEK-call events of the run (one rewrap, or one unwrap and one wrap, per DEK). */
  onEvent?: CmekEventListener;
  /** Called around each KEK call of the run, as `EnvelopeOptions.kekCallHook`. */
  kekCallHook?: KekCallHook;
  /**
   * Also pass DEKs already under the primary's key reference through its server-side `rewrap`
   * (a Vault key-version move). Default false.
   */
  includePrimary?: boolean;
  /**
   * The moved DEKs to reuse and add to, shared with other `rewrap` calls (`createRewrapCache`):
   * a DEK already moved by an earlier call costs no KEK call and is not counted in this call's
   * `deks`. Bound to the primary of the first call it is given to; another primary throws
   * `CmekConfigError`. A dry run neither reads nor fills it. Default: a cache private to the call.
   */
  cache?: RewrapCache;
  /**
   * The size of the call's private cache: old-record to new-record entries kept (oldest dropped
   * first). Default 100,000. Not with `cache` (`CmekConfigError`): a shared cache has its own
   * `maxEntries`.
   */
  maxCachedDeks?: number;
}

/** The default of `VerifyOptions.maxUndecryptableIds`. */
export const DEFAULT_MAX_UNDECRYPTABLE_IDS = 100;

export interface VerifyOptions {
  /** Decrypts each token under the store's `contextFor(field)` through the envelope's keyring. */
  envelope: Envelope;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /**
   * The primary keys of undecryptable rows listed per field (`undecryptableIds`), the first ones
   * in scan order; 0 lists none. Default 100 (`DEFAULT_MAX_UNDECRYPTABLE_IDS`).
   */
  maxUndecryptableIds?: number;
  /**
   * Recomputes the blind indexes of a store that declares `blindIndexes` (required then) and
   * compares them with the stored ones (`VerifyFieldReport.indexes`).
   */
  indexer?: BlindIndexer;
  /** Only this tenant's rows, as `EngineOptions.tenant`. */
  tenant?: string;
}

export interface WriteReport {
  readonly operation: 'backfill' | 'rewrap';
  readonly store: string;
  /** The tenant of a run scoped to one. */
  readonly tenant?: string;
  readonly dryRun: boolean;
  readonly status: 'completed' | 'aborted';
  /** The cursor a checkpoint resumed from, or `null` for a run from the first row. */
  readonly resumedFrom: Cursor | null;
  /** The last primary key processed. */
  readonly cursor: Cursor | null;
  /** Rows scanned, including those of the interrupted run a checkpoint resumed. */
  readonly rows: number;
  readonly batches: number;
  readonly durationMs: number;
  readonly fields: Record<string, WriteFieldReport>;
  /**
   * Rewrap only: the distinct DEKs this call moved (server-side or unwrap + wrap, i.e. its KEK
   * calls; a DEK found in a shared cache counts 0) and the target KEK. In a dry run, the distinct
   * DEKs of the store it would move (a shared cache is not consulted).
   */
  readonly deks?: { rewrapped: number; serverSide: number; unwrapWrap: number; target: string };
}

export interface EncryptedCount {
  readonly providerId: string;
  readonly keyRef: string;
  count: number;
}

export interface VerifyFieldReport {
  nulls: number;
  plaintext: number;
  /** Values that decrypt, per KEK. */
  encrypted: EncryptedCount[];
  /** Values that do not decrypt (wrong context, unknown or lost KEK, malformed). */
  undecryptable: number;
  /** The undecryptable values by error code, plus their KEK where the token names one. */
  errors: { code: string; providerId?: string; keyRef?: string; count: number }[];
  /**
   * The primary keys (`Row.id`) of the first undecryptable rows, in scan order, at most
   * `maxUndecryptableIds`: the rows to look at. Primary keys only: no value, token or key.
   */
  undecryptableIds: Cursor[];
  /** `true` when more rows were undecryptable than `undecryptableIds` lists. */
  undecryptableIdsTruncated: boolean;
  /** A field with blind indexes only: each index column's check, by column. */
  indexes?: Record<string, VerifyIndexReport>;
}

/**
 * One blind-index column in a verify. Each row whose value is readable (a token that decrypts,
 * legacy plaintext, or null) is `ok`, `missing` (no index beside a value) or `mismatched` (an
 * index that is not the value's under the column's key and mode: stale, of another key, or beside
 * a null). Undecryptable values are not checked (they are counted as undecryptable).
 */
export interface VerifyIndexReport {
  ok: number;
  missing: number;
  mismatched: number;
  /** The primary keys of the first missing or mismatched rows, at most `maxUndecryptableIds`. */
  ids: Cursor[];
  /** `true` when more rows were missing or mismatched than `ids` lists. */
  idsTruncated: boolean;
}

export interface VerifyReport {
  readonly operation: 'verify';
  readonly store: string;
  /** The tenant of a run scoped to one. */
  readonly tenant?: string;
  readonly status: 'completed' | 'aborted';
  readonly rows: number;
  readonly durationMs: number;
  readonly fields: Record<string, VerifyFieldReport>;
  /** The sum of `undecryptable` over the fields: a KEK may be retired only when this is 0. */
  readonly undecryptable: number;
  /** A store with blind indexes only: the sum of `missing` and `mismatched` over its index columns. */
  readonly indexProblems?: number;
}
