/** A progress bar on stderr (cli-progress), only on a terminal and never with `--json`. */
import type { ProgressEvent } from '@cmek/core';
import { SingleBar } from 'cli-progress';
import type { CliIo } from './io';
import { isTty } from './io';

export interface Progress {
  readonly listener: ((event: ProgressEvent) => void) | undefined;
  stop(): void;
}

export function progressFor(io: CliIo, enabled: boolean): Progress {
  if (!enabled || !isTty(io.stderr)) return { listener: undefined, stop: () => undefined };
  let bar: SingleBar | undefined;
  return {
    listener(event) {
      const payload = {
        op: event.operation,
        store: event.store,
        written: event.written,
        conflicts: event.conflicts,
      };
      if (bar === undefined) {
        bar = new SingleBar({
          stream: io.stderr as NodeJS.WritableStream,
          format:
            '{op} {store} | {value} rows | {written} written | {conflicts} conflicts | {duration_formatted}',
          hideCursor: true,
          clearOnComplete: false,
        });
        bar.start(0, event.rows, payload);
      }
      bar.update(event.rows, payload);
      if (event.phase === 'done') {
        bar.stop();
        bar = undefined;
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
