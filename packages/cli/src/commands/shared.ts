/** Options and helpers the commands share. */
import { CmekInvalidInputError } from '@cmek/core';
import type { Command } from 'commander';
import { DEFAULT_PROGRESS_INTERVAL_SECONDS, type ProgressOptions } from '../progress';

export interface CommonOptions {
  config?: string;
  json?: boolean;
  store?: string[];
  batch?: number;
  verbose?: boolean;
  progressInterval?: number;
}

/** The progress of a command: a bar on a terminal (not with `--json`), else a line every N s. */
export function progressOptions(options: CommonOptions): ProgressOptions {
  return {
    json: options.json === true,
    ...(options.progressInterval === undefined
      ? {}
      : { intervalSeconds: options.progressInterval }),
  };
}

export function positiveInt(name: string, min = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new CmekInvalidInputError(
        `${name} must be ${min === 0 ? 'an integer of 0 or more' : 'a positive integer'}, not '${value.slice(0, 32)}'`,
      );
    }
    return n;
  };
}

/** `--verbose`: on every command. */
export function withVerbose(command: Command): Command {
  return command.option(
    '--verbose',
    'on an error, also print its cause chain (class names, codes and redacted messages)',
  );
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--config`, `--json`, `--store`, `--batch`: on every command that reads stores. */
export function withStoreOptions(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      'the config file (default: cmek.config.{ts,mts,mjs,js} in the current directory)',
    )
    .option('--store <name>', 'only this store (repeatable; default: every store)', collect)
    .option('--batch <rows>', 'rows per batch (default 500)', positiveInt('--batch'))
    .option('--json', 'print one JSON report on stdout, on success and on failure; no progress bar')
    .option(
      '--progress-interval <seconds>',
      `when stderr is not a terminal, a progress line every <seconds> (0: none; default ${DEFAULT_PROGRESS_INTERVAL_SECONDS})`,
      positiveInt('--progress-interval', 0),
    );
}
