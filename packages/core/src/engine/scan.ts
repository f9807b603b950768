/**
 * The one scan loop of the engine's runs (backfill and rewrap through the driver, and verify):
 * a store's rows in primary-key order, batch after batch, from a cursor (a checkpoint's) until
 * a short batch or an empty one, or until the run's signal aborts; and the progress events built
 * from where the scan is.
 */
import { CmekError } from '../errors';
import type { Cursor, Row, RowStore } from '../row-store';
import { checkTenantRows, scanOptionsOf } from './tenants';
import type { EngineOperation, ProgressEvent, ProgressListener } from './types';

export class StoreScan {
  /** The primary key of the last row done; `undefined` before the first. */
  cursor: Cursor | undefined;
  /** Rows done, a resumed run's earlier ones included. */
  rows: number;
  /** Whether the signal ended the run before the store did. */
  aborted = false;
  private ended = false;

  constructor(
    private readonly store: RowStore,
    private readonly batchSize: number,
    private readonly signal: AbortSignal | undefined,
    from: { cursor?: Cursor; rows?: number } = {},
    /** A run scoped to one tenant: the scan is filtered, and each row checked. */
    private readonly tenant?: string,
  ) {
    this.cursor = from.cursor;
    this.rows = from.rows ?? 0;
  }

  /** The next batch, or `undefined` when the store is done or the run aborted. */
  async next(): Promise<Row[] | undefined> {
    if (this.ended || this.stopped()) return undefined;
    const batch = await this.store.scan(this.cursor, this.batchSize, ...scanOptionsOf(this.tenant));
    if (batch.length === 0) return undefined;
    checkTenantRows(this.store, this.tenant, batch);
    return batch;
  }

  /** `true` (and the scan aborted) once the signal has fired: checked between steps of a batch. */
  stopped(): boolean {
    if (this.signal?.aborted) this.aborted = true;
    return this.aborted;
  }

  /** Marks `batch` done: the cursor moves past it; a short batch was the store's last. */
  advance(batch: readonly Row[]): void {
    this.cursor = batch[batch.length - 1]!.id;
    this.rows += batch.length;
    if (batch.length < this.batchSize) this.ended = true;
  }
}

/** What a progress event adds to the run's counts: a batch's duration, a failure's code. */
export type ProgressExtra = Pick<ProgressEvent, 'batchDurationMs' | 'errorCode'>;

export type Progress = (phase: ProgressEvent['phase'], extra?: ProgressExtra) => void;

/** The `failed` event's code of an error a run stopped with. */
export function failureOf(error: unknown): ProgressExtra {
  return { errorCode: CmekError.isInstance(error) ? error.code : '_OTHER' };
}

/** Milliseconds since `started` (a `performance.now()`), for `batchDurationMs`. */
export function tookSince(started: number): ProgressExtra {
  return { batchDurationMs: performance.now() - started };
}

/**
 * The progress events of a run: `counts()` gives what the run wrote so far. A listener that
 * throws is ignored: progress is a courtesy and must not stop a run half way.
 */
export function progressReporter(
  listener: ProgressListener | undefined,
  base: {
    operation: EngineOperation;
    store: string;
    total: number | undefined;
    tenant?: string | undefined;
  },
  scan: StoreScan,
  counts: () => { written: number; conflicts: number } = () => ({ written: 0, conflicts: 0 }),
): Progress {
  const { operation, store, total, tenant } = base;
  return (phase, extra) => {
    if (listener === undefined) return;
    try {
      listener({
        operation,
        store,
        ...(tenant === undefined ? {} : { tenant }),
        phase,
        rows: scan.rows,
        ...counts(),
        cursor: scan.cursor ?? null,
        ...(total === undefined ? {} : { total }),
        ...extra,
      });
    } catch {
      // A failing progress listener must not stop the run.
    }
  };
}
