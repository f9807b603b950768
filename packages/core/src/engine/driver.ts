/**
 * The loop backfill and rewrap share: scan in primary-key order, plan the writes of a batch,
 * compare-and-set them with bounded concurrency, checkpoint, report; then re-read the rows whose
 * write lost to a concurrent change and try them again.
 */
import { CmekConfigError } from '../errors';
import type { Cursor, IndexValues, Row, RowStore } from '../row-store';
import type { Checkpoint } from './checkpoint';
import { addReports, emptyReports, nonNegativeInteger, positiveInteger } from './counts';
import { eachLimit } from './limit';
import { failureOf, progressReporter, StoreScan, tookSince } from './scan';
import { checkTenantRows, scanOptionsOf, tenantScope } from './tenants';
import { totalOf } from './total';
import type { EngineOptions, WriteFieldReport, WriteReport } from './types';

export interface PlannedWrite {
  /** Index of the row in the rows given to `plan`. */
  readonly row: number;
  readonly field: string;
  /** The stored value the plan was made from: the compare-and-set's expected value. */
  readonly expected: string;
  /** The value to write; `undefined` in a dry run. */
  readonly next: string | undefined;
  /** Blind-index values written with the value (a store declaring `blindIndexes`). */
  readonly indexes?: IndexValues;
  /** The value is rewritten as it is (`next === expected`): the write is for `indexes` only. */
  readonly indexOnly?: boolean;
}

export interface WriteStrategy {
  readonly operation: 'backfill' | 'rewrap';
  /** A label of what the run writes towards; a checkpoint made for another target is ignored. */
  readonly target?: string;
  /** The fields whose reports count blind-index writes. */
  readonly indexed?: ReadonlySet<string>;
  /**
   * Classifies the values of `fields` in `rows`, counting into `counts`, and returns the writes.
   * Throws to end the run (a KEK that is unavailable, a configuration error).
   */
  plan(
    rows: readonly Row[],
    fields: readonly string[],
    counts: Record<string, WriteFieldReport>,
  ): Promise<PlannedWrite[]>;
}

type Write = PlannedWrite & { readonly id: Cursor };

interface Conflict {
  /** The primary key before the row in scan order (`undefined`: it was the first row). */
  readonly before: Cursor | undefined;
  readonly id: Cursor;
  readonly field: string;
}

/** The rows re-read for one conflict: a few, in case rows were inserted in between. */
const RETRY_WINDOW = 16;

/** Writes per `compareAndSetMany` call. */
const MANY_CHUNK = 500;

const sameId = (a: Cursor, b: Cursor): boolean => a === b || String(a) === String(b);

export function checkStore(store: RowStore): void {
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.scan !== 'function' ||
    typeof store.compareAndSet !== 'function' ||
    typeof store.contextFor !== 'function' ||
    !Array.isArray(store.fields)
  ) {
    throw new CmekConfigError(
      'the engine needs a RowStore (name, fields, contextFor, scan, compareAndSet)',
    );
  }
}

export async function runWrites(
  store: RowStore,
  options: EngineOptions,
  strategy: WriteStrategy,
): Promise<Omit<WriteReport, 'deks'>> {
  checkStore(store);
  const started = performance.now();
  const batchSize = positiveInteger(options.batchSize, 500, 'batchSize');
  const concurrency = positiveInteger(options.concurrency, 8, 'concurrency');
  const retries = nonNegativeInteger(options.conflictRetries, 3, 'conflictRetries');
  const dryRun = options.dryRun === true;
  const { signal, checkpoint, onProgress } = options;
  const fields = [...store.fields];
  const { operation } = strategy;
  const tenant = tenantScope(store, options.tenant);
  // Checkpoint stores see the call they always did for a whole-store run.
  const scope = tenant === undefined ? [] : [tenant];

  let counts = emptyReports(fields, strategy.indexed);
  let batches = 0;
  let resumedFrom: Cursor | null = null;
  let from: { cursor?: Cursor; rows?: number } = {};
  if (checkpoint !== undefined && !dryRun) {
    const saved = await checkpoint.load(operation, store.name, ...scope);
    if (saved !== undefined && saved.target === strategy.target && saved.tenant === tenant) {
      from = { cursor: saved.cursor, rows: saved.rows };
      resumedFrom = saved.cursor;
      batches = saved.batches;
      counts = emptyReports(fields, strategy.indexed);
      addReports(counts, saved.fields);
    }
  }
  const scan = new StoreScan(store, batchSize, signal, from, tenant);

  const sum = (key: 'written' | 'conflicts'): number =>
    Object.values(counts).reduce((n, r) => n + r[key], 0);
  const total = await totalOf(store, onProgress !== undefined, tenant);
  const progress = progressReporter(
    onProgress,
    { operation, store: store.name, total, tenant },
    scan,
    () => ({
      written: sum('written'),
      conflicts: sum('conflicts'),
    }),
  );

  /** Writes with bounded concurrency; returns the writes that lost to a concurrent change. */
  const apply = async (
    writes: readonly Write[],
    into: Record<string, WriteFieldReport>,
  ): Promise<Write[]> => {
    const lost: Write[] = [];
    if (dryRun) return lost;
    const settle = (write: Write, ok: boolean): void => {
      const report = into[write.field]!;
      if (ok) {
        if (write.indexOnly !== true) report.written++;
        if (write.indexes !== undefined && report.indexes !== undefined) report.indexes.written++;
      } else {
        report.conflicts++;
        lost.push(write);
      }
    };
    // No signal here: a batch's writes always finish, so the checkpoint stays exact.
    const many = store.compareAndSetMany;
    if (many !== undefined) {
      const chunks: Write[][] = [];
      for (let i = 0; i < writes.length; i += MANY_CHUNK)
        chunks.push(writes.slice(i, i + MANY_CHUNK));
      await eachLimit(chunks, concurrency, undefined, async (chunk) => {
        const results = await many.call(
          store,
          chunk.map((w) => ({
            id: w.id,
            field: w.field,
            expected: w.expected,
            next: w.next!,
            ...(w.indexes === undefined ? {} : { indexes: w.indexes }),
          })),
        );
        if (!Array.isArray(results) || results.length !== chunk.length) {
          throw new CmekConfigError(
            `compareAndSetMany of store '${store.name}' returned ${Array.isArray(results) ? results.length : 'no'} results for ${chunk.length} writes`,
          );
        }
        for (const [i, w] of chunk.entries()) settle(w, results[i] === true);
      });
      return lost;
    }
    await eachLimit(writes, concurrency, undefined, async (write) => {
      const ok =
        write.indexes === undefined
          ? await store.compareAndSet(write.id, write.field, write.expected, write.next!)
          : await store.compareAndSet(
              write.id,
              write.field,
              write.expected,
              write.next!,
              write.indexes,
            );
      settle(write, ok);
    });
    return lost;
  };

  let pending: Conflict[] = [];
  progress('start');
  try {
    for (;;) {
      const batchStarted = performance.now();
      const batch = await scan.next();
      if (batch === undefined) break;
      const batchCounts = emptyReports(fields, strategy.indexed);
      const planned = await strategy.plan(batch, fields, batchCounts);
      if (scan.stopped()) break;
      const writes = planned.map((w) => ({ ...w, id: batch[w.row]!.id }));
      const lost = await apply(writes, batchCounts);
      for (const w of lost) {
        pending.push({
          before: w.row === 0 ? scan.cursor : batch[w.row - 1]!.id,
          id: batch[w.row]!.id,
          field: w.field,
        });
      }
      addReports(counts, batchCounts);
      scan.advance(batch);
      batches++;
      if (checkpoint !== undefined && !dryRun) {
        const saved: Checkpoint = {
          version: 1,
          operation,
          store: store.name,
          cursor: scan.cursor!,
          ...(strategy.target === undefined ? {} : { target: strategy.target }),
          ...(tenant === undefined ? {} : { tenant }),
          rows: scan.rows,
          batches,
          fields: counts,
          updatedAt: new Date().toISOString(),
        };
        await checkpoint.save(saved);
      }
      progress('batch', tookSince(batchStarted));
    }
    const { aborted } = scan;

    for (let round = 0; round < retries && pending.length > 0 && !aborted; round++) {
      const roundStarted = performance.now();
      const still: Conflict[] = [];
      await eachLimit(pending, concurrency, undefined, async (conflict) => {
        const near = await store.scan(conflict.before, RETRY_WINDOW, ...scanOptionsOf(tenant));
        checkTenantRows(store, tenant, near);
        const index = near.findIndex((r) => sameId(r.id, conflict.id));
        if (index < 0) return; // The row is gone: nothing to do.
        const row = near[index]!;
        // Counted apart: the value was already counted once; only the outcome of the write counts.
        const scratch = emptyReports(fields, strategy.indexed);
        const writes = await strategy.plan([row], [conflict.field], scratch);
        for (const [code, n] of Object.entries(scratch[conflict.field]!.failed)) {
          const failed = counts[conflict.field]!.failed;
          failed[code] = (failed[code] ?? 0) + n;
        }
        const lost = await apply(
          writes.map((w) => ({ ...w, id: row.id })),
          counts,
        );
        if (lost.length > 0) still.push(conflict);
      });
      pending = still;
      progress('retry', tookSince(roundStarted));
    }
    for (const conflict of pending) counts[conflict.field]!.conflictsRemaining++;

    if (!aborted && checkpoint !== undefined && !dryRun) {
      await checkpoint.clear(operation, store.name, ...scope);
    }
    progress('done');
    return {
      operation,
      store: store.name,
      ...(tenant === undefined ? {} : { tenant }),
      dryRun,
      status: aborted ? 'aborted' : 'completed',
      resumedFrom,
      cursor: scan.cursor ?? null,
      rows: scan.rows,
      batches,
      durationMs: Math.round(performance.now() - started),
      fields: counts,
    };
  } catch (error) {
    progress('failed', failureOf(error));
    throw error;
  }
}
