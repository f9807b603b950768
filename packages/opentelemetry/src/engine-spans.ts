/**
 * Spans and counters from the engine's progress events (`onProgress` of backfill, rewrap and
 * verify). Batches run one after another, so a batch span runs from the previous progress event
 * to this one; it is a child of the run's span, which starts at `start` and ends at `done`. A run
 * that throws emits no `done` with today's core: its span is ended when the same operation on
 * the same store starts again (proposed: a `failed` phase).
 */

import type { ProgressEvent } from '@cmek/core/engine';
import { context, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { nowMs } from './clock';
import type { Instruments } from './instruments';
import { CMEK_ATTRIBUTES as A } from './names';

/** Progress fields a newer core may add (feature-detected). */
interface NewerProgress {
  /** The duration of the batch this `batch` event closes. */
  readonly batchDurationMs?: unknown;
  /** With `phase: 'failed'`: the error code the run stopped with. */
  readonly errorCode?: unknown;
}

interface Run {
  readonly span: Span | undefined;
  last: number;
  rows: number;
  written: number;
  conflicts: number;
}

export type ProgressHandler = (event: ProgressEvent) => void;

export function progressHandler(
  instruments: Instruments,
  tracer: Tracer | undefined,
): ProgressHandler {
  const runs = new Map<string, Run>();

  const open = (event: ProgressEvent, key: string, now: number): Run => {
    const stale = runs.get(key);
    stale?.span?.end(stale.last);
    const run: Run = {
      span: tracer?.startSpan(
        `cmek.engine.${event.operation}`,
        {
          startTime: now,
          attributes: { [A.engineOperation]: event.operation, [A.store]: event.store },
        },
        context.active(),
      ),
      last: now,
      rows: event.rows,
      written: event.written,
      conflicts: event.conflicts,
    };
    runs.set(key, run);
    return run;
  };

  return (event) => {
    const now = nowMs();
    const key = `${event.operation}\u0000${event.store}`;
    const phase: string = event.phase;
    if (phase === 'start') {
      open(event, key, now);
      return;
    }
    const run = runs.get(key) ?? open(event, key, now);
    const base = { [A.engineOperation]: event.operation, [A.store]: event.store };
    const rows = Math.max(0, event.rows - run.rows);
    const written = Math.max(0, event.written - run.written);
    const conflicts = Math.max(0, event.conflicts - run.conflicts);
    if (rows > 0) instruments.engineRows.add(rows, base);
    if (written > 0) instruments.engineWrites.add(written, { ...base, [A.writeResult]: 'written' });
    if (conflicts > 0) {
      instruments.engineWrites.add(conflicts, { ...base, [A.writeResult]: 'conflict' });
    }
    const newer = event as ProgressEvent & NewerProgress;
    if ((phase === 'batch' || phase === 'retry') && run.span !== undefined && tracer) {
      const took = typeof newer.batchDurationMs === 'number' ? newer.batchDurationMs : undefined;
      const batch = tracer.startSpan(
        'cmek.engine.batch',
        {
          startTime: took === undefined ? run.last : now - took,
          attributes: {
            ...base,
            [A.phase]: phase,
            [A.batchRows]: rows,
            [A.batchWritten]: written,
            [A.batchConflicts]: conflicts,
          },
        },
        trace.setSpan(context.active(), run.span),
      );
      batch.end(now);
    }
    run.last = now;
    run.rows = event.rows;
    run.written = event.written;
    run.conflicts = event.conflicts;
    if (phase === 'done' || phase === 'failed') {
      if (phase === 'failed') {
        const code = typeof newer.errorCode === 'string' ? newer.errorCode : '_OTHER';
        run.span?.setAttribute(A.errorType, code);
        run.span?.setStatus({ code: SpanStatusCode.ERROR, message: code });
      }
      run.span?.setAttributes({
        [A.runRows]: event.rows,
        [A.runWritten]: event.written,
        [A.runConflicts]: event.conflicts,
      });
      run.span?.end(now);
      runs.delete(key);
    }
  };
}
