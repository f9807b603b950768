/** Options and helpers the commands share. */
import { CmekInvalidInputError } from '@cmek/core';
import type { Command } from 'commander';

export interface CommonOptions {
  config?: string;
  json?: boolean;
  store?: string[];
  batch?: number;
}

export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
      throw new CmekInvalidInputError(
        `${name} must be a positive integer, not '${value.slice(0, 32)}'`,
      );
    }
    return n;
  };
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
    .option('--json', 'print one JSON report on stdout and no progress bar');
}
