/**
 * The KEK calls of one `backfill` / `rotate` / `verify` run, counted from core's `kek-call`
 * events (the envelope's, the engine's `rewrap`'s, the blind-index keys' load): calls by
 * operation, DEKs handled, failures by error code, the summed time of the calls, and their rates
 * per 1,000 rows read and per second. Events carry no key material; this keeps counts, operation
 * names and error codes only (no provider id, key reference or token).
 */
import type { CmekEvent } from '@cmek/core';
import type { ProgressEvent } from '@cmek/core/engine';

/** The `kekCalls` of a `--json` report. */
export interface KekCallSummary {
  /** KEK calls made by the run (failed ones included). */
  readonly total: number;
  /** Calls per operation (`generateDataKey`, `unwrap`, `unwrapMany`, `rewrap`, `wrap`); an operation not called is absent. */
  readonly byOperation: Record<string, number>;
  /** DEKs (and index keys) the successful calls handled: 1 per call, n per `unwrapMany` of n. */
  readonly deks: number;
  /** Calls that failed. */
  readonly errors: number;
  /** Failed calls by error code (`CMEK_KEK_UNAVAILABLE`, `CMEK_UNKNOWN_KEK`...). */
  readonly errorsByCode: Record<string, number>;
  /** The calls' durations added up, in milliseconds (calls in flight together overlap). */
  readonly durationMs: number;
  /** Rows this run read (a resumed run's earlier rows are not counted). */
  readonly rows: number;
  /** Calls per 1,000 rows read; `null` when no row was read. */
  readonly perThousandRows: number | null;
  /** Calls per second of the run's stores (from the first store's start); `null` before any. */
  readonly perSecond: number | null;
}

const round = (n: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export class KekCallCounter {
  private total = 0;
  private deks = 0;
  private errors = 0;
  private durationMs = 0;
  private readonly byOperation: Record<string, number> = {};
  private readonly errorsByCode: Record<string, number> = {};
  /** Per store: rows at the run's start (a resumed run's) and rows now. */
  private readonly rows = new Map<string, { start: number; now: number }>();
  private started: number | undefined;

  /** The engine / envelope event listener: counts `kek-call` events, ignores the others. */
  readonly onEvent = (event: CmekEvent): void => {
    if (event.type !== 'kek-call') return;
    this.total++;
    this.byOperation[event.operation] = (this.byOperation[event.operation] ?? 0) + 1;
    if (Number.isFinite(event.durationMs)) this.durationMs += event.durationMs;
    if (event.ok) this.deks += event.count;
    else {
      this.errors++;
      const code = event.errorCode ?? 'CMEK_PROVIDER';
      this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
    }
  };

  /** The engine's progress listener: the rows each store read in this run. */
  readonly onProgress = (event: ProgressEvent): void => {
    this.started ??= performance.now();
    const seen = this.rows.get(event.store);
    if (seen === undefined || event.phase === 'start') {
      this.rows.set(event.store, { start: event.rows, now: event.rows });
    } else seen.now = event.rows;
  };

  /** Starts the clock of `perSecond` (before the first KEK call of the run, e.g. an index key's load). */
  start(): void {
    this.started ??= performance.now();
  }

  summary(): KekCallSummary {
    let rows = 0;
    for (const { start, now } of this.rows.values()) rows += Math.max(0, now - start);
    const seconds = this.started === undefined ? 0 : (performance.now() - this.started) / 1000;
    return {
      total: this.total,
      byOperation: { ...this.byOperation },
      deks: this.deks,
      errors: this.errors,
      errorsByCode: { ...this.errorsByCode },
      durationMs: Math.round(this.durationMs),
      rows,
      perThousandRows: rows > 0 ? round((this.total * 1000) / rows, 3) : null,
      perSecond: seconds > 0 ? round(this.total / seconds, 2) : null,
    };
  }
}

const number = (n: number): string => n.toLocaleString('en-US');

/** The human summary: one line, e.g. `KEK calls: 12 (generateDataKey 12), 12 DEKs, 0 errors, ...`. */
export function describeKekCalls(summary: KekCallSummary): string {
  const ops = Object.entries(summary.byOperation)
    .map(([op, n]) => `${op} ${number(n)}`)
    .join(', ');
  const errors = Object.entries(summary.errorsByCode)
    .map(([code, n]) => `${code} ${number(n)}`)
    .join(', ');
  const per1000 =
    summary.perThousandRows === null
      ? 'no rows read'
      : `${summary.perThousandRows} per 1,000 rows (${number(summary.rows)} rows read)`;
  const perSecond = summary.perSecond === null ? '' : `, ${summary.perSecond}/s`;
  return (
    `KEK calls: ${number(summary.total)}${ops ? ` (${ops})` : ''}, ${number(summary.deks)} DEKs, ` +
    `${number(summary.errors)} errors${errors ? ` (${errors})` : ''}, ` +
    `${number(summary.durationMs)} ms in KEK calls, ${per1000}${perSecond}`
  );
}
