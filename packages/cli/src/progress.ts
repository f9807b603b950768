/**
 * Progress on stderr: a bar (cli-progress) on a terminal, never with `--json`; elsewhere (a CI
 * log, a file) one line every `--progress-interval` seconds with the rows done and the rate. The
 * `RowStore` contract has no row count, so there is no total, percentage or ETA.
 */
import type { ProgressEvent } from '@cmek/core';
import { SingleBar } from 'cli-progress';
import type { CliIo } from './io';
import { isTty, line } from './io';

export interface Progress {
  readonly listener: ((event: ProgressEvent) => void) | undefined;
  stop(): void;
}

export interface ProgressOptions {
  /** `--json`: no bar (the lines of a non-terminal stderr stay). */
  readonly json: boolean;
  /** Seconds between two lines when stderr is not a terminal; 0: no lines. Default 10. */
  readonly intervalSeconds?: number;
}

export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 10;

const none: Progress = { listener: undefined, stop: () => undefined };

function bar(io: CliIo): Progress {
  let current: SingleBar | undefined;
  return {
    listener(event) {
      const payload = {
        op: event.operation,
        store: event.store,
        written: event.written,
        conflicts: event.conflicts,
      };
      if (current === undefined) {
        current = new SingleBar({
          stream: io.stderr as NodeJS.WritableStream,
          format:
            '{op} {store} | {value} rows | {written} written | {conflicts} conflicts | {duration_formatted}',
          hideCursor: true,
          clearOnComplete: false,
        });
        current.start(0, event.rows, payload);
      }
      current.update(event.rows, payload);
      if (event.phase === 'done') {
        current.stop();
        current = undefined;
      }
    },
    stop() {
      current?.stop();
      current = undefined;
    },
  };
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h > 0 ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The text of one progress line. */
export function progressLine(event: ProgressEvent, startRows: number, elapsedMs: number): string {
  const done = event.rows - startRows;
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  const writes =
    event.operation === 'verify'
      ? ''
      : `, ${event.written.toLocaleString('en-US')} written, ${event.conflicts.toLocaleString('en-US')} conflicts`;
  const resumed = startRows > 0 ? ` (${startRows.toLocaleString('en-US')} before resuming)` : '';
  return `cmek: ${event.operation} ${event.store}: ${event.rows.toLocaleString('en-US')} rows${resumed}, ${rate.toLocaleString('en-US')} rows/s${writes}, ${clock(elapsedMs)} elapsed`;
}

function lines(io: CliIo, intervalMs: number): Progress {
  let latest: { event: ProgressEvent; startRows: number; started: number } | undefined;
  const timer = setInterval(() => {
    if (latest !== undefined) {
      line(
        io.stderr,
        progressLine(latest.event, latest.startRows, performance.now() - latest.started),
      );
    }
  }, intervalMs);
  timer.unref();
  return {
    listener(event) {
      if (event.phase === 'start' || latest?.event.store !== event.store) {
        latest = { event, startRows: event.rows, started: performance.now() };
      } else latest.event = event;
      if (event.phase === 'done') latest = undefined;
    },
    stop() {
      clearInterval(timer);
      latest = undefined;
    },
  };
}

export function progressFor(io: CliIo, options: ProgressOptions): Progress {
  if (isTty(io.stderr)) return options.json ? none : bar(io);
  const seconds = options.intervalSeconds ?? DEFAULT_PROGRESS_INTERVAL_SECONDS;
  return seconds > 0 ? lines(io, seconds * 1000) : none;
}

/** One listener calling each of `listeners` (those that are defined). */
export function both(
  ...listeners: (((event: ProgressEvent) => void) | undefined)[]
): (event: ProgressEvent) => void {
  return (event) => {
    for (const listener of listeners) listener?.(event);
  };
}
