/**
 * Progress on stderr: a bar (cli-progress) on a terminal, never with `--json`; elsewhere (a CI
 * log, a file) one line every `--progress-interval` seconds with the rows done and the rate. When
 * the store has the `RowStore` contract's optional `count()` (the Knex, Sequelize and Mongoose
 * row stores do), the engine's events carry its `total`, and both show the total, the percentage
 * and an ETA; without it they show the rows done only.
 */
import type { ProgressEvent } from '@cmek/core/engine';
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

/** A total worth a percentage: known, and not 0. */
function totalOf(event: ProgressEvent): number | undefined {
  return event.total !== undefined && event.total > 0 ? event.total : undefined;
}

const BAR_FORMAT =
  '{op} {store} | {value} rows | {written} written | {conflicts} conflicts | {duration_formatted}';
const BAR_FORMAT_WITH_TOTAL =
  '{op} {store} |{bar}| {percentage}% | {value}/{total} rows | {written} written | {conflicts} conflicts | {duration_formatted} elapsed | ETA {eta_formatted}';

function bar(io: CliIo): Progress {
  let current: SingleBar | undefined;
  let barTotal = 0;
  return {
    listener(event) {
      const payload = {
        op: event.operation,
        store: event.store,
        written: event.written,
        conflicts: event.conflicts,
      };
      const total = totalOf(event);
      if (current === undefined) {
        current = new SingleBar({
          stream: io.stderr as NodeJS.WritableStream,
          format: total === undefined ? BAR_FORMAT : BAR_FORMAT_WITH_TOTAL,
          hideCursor: true,
          clearOnComplete: false,
        });
        barTotal = total === undefined ? 0 : Math.max(total, event.rows);
        current.start(barTotal, event.rows, payload);
      }
      // Rows inserted during the run (or an estimated count) can take the rows past the total.
      if (barTotal > 0 && event.rows > barTotal) {
        barTotal = event.rows;
        current.setTotal(barTotal);
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

const number = (n: number): string => n.toLocaleString('en-US');

/**
 * The text of one progress line: the rows done (of the total, with the percentage, when the
 * event has one), the rate since the run started, and with a total the ETA at that rate.
 */
export function progressLine(event: ProgressEvent, startRows: number, elapsedMs: number): string {
  const done = event.rows - startRows;
  const perMs = elapsedMs > 0 ? done / elapsedMs : 0;
  const rate = Math.round(perMs * 1000);
  const writes =
    event.operation === 'verify'
      ? ''
      : `, ${number(event.written)} written, ${number(event.conflicts)} conflicts`;
  const total = totalOf(event);
  const before = startRows > 0 ? `${number(startRows)} before resuming` : '';
  let rows: string;
  let eta = '';
  if (total === undefined) {
    rows = `${number(event.rows)} rows${before ? ` (${before})` : ''}`;
  } else {
    const percent = Math.min(100, Math.floor((event.rows * 100) / total));
    rows = `${number(event.rows)}/${number(total)} rows (${percent}%${before ? `, ${before}` : ''})`;
    const remaining = Math.max(0, total - event.rows);
    if (remaining === 0) eta = ', ETA 0:00';
    else if (perMs > 0) eta = `, ETA ${clock(remaining / perMs)}`;
  }
  return `cmek: ${event.operation} ${event.store}: ${rows}, ${number(rate)} rows/s${writes}, ${clock(elapsedMs)} elapsed${eta}`;
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

/** A listener calling each of `listeners` (those defined); a throwing one does not stop the others. */
export function fanOut<E>(...listeners: (((event: E) => void) | undefined)[]): (event: E) => void {
  return (event) => {
    for (const listener of listeners) {
      try {
        listener?.(event);
      } catch {
        // A failing hook (the config's, a bar) must not stop the run or the other listeners.
      }
    }
  };
}
