/** `cmek backfill` and `cmek rotate`: the engine's write operations over the configured stores. */
import { join } from 'node:path';
import {
  backfill,
  type CmekEvent,
  CmekInvalidInputError,
  createEnvelope,
  createKeyring,
  createRewrapCache,
  fileCheckpoints,
  type Keyring,
  rewrap,
  type WriteReport,
} from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import { keyringOf, type LoadedConfig, loadConfig, storesOf } from '../config';
import { EXIT, type ExitCode } from '../exit-codes';
import { type CliIo, line } from '../io';
import { progressFor } from '../progress';
import type { CommonOptions } from './shared';

export interface WriteOptions extends CommonOptions {
  dryRun?: boolean;
  concurrency?: number;
  checkpointDir?: string;
  restart?: boolean;
  /** rotate only */
  oldKeyFile?: string;
  newKeyFile?: string;
  includePrimary?: boolean;
}

async function shortcutKeyring(options: WriteOptions): Promise<Keyring | undefined> {
  const { oldKeyFile, newKeyFile } = options;
  if (oldKeyFile === undefined && newKeyFile === undefined) return undefined;
  if (oldKeyFile === undefined || newKeyFile === undefined) {
    throw new CmekInvalidInputError('--old-key-file and --new-key-file go together');
  }
  const primary = await createLocalKekProvider({ path: newKeyFile });
  const old = await createLocalKekProvider({ path: oldKeyFile });
  return createKeyring({ primary, decryptOnly: [old] });
}

export function exitCodeOfWrites(reports: readonly WriteReport[]): ExitCode {
  if (reports.some((r) => r.status === 'aborted')) return EXIT.interrupted;
  const fields = reports.flatMap((r) => Object.values(r.fields));
  if (fields.some((f) => Object.values(f.failed).some((n) => n > 0))) return EXIT.failure;
  if (fields.some((f) => f.conflictsRemaining > 0)) return EXIT.conflicts;
  return EXIT.ok;
}

function describe(io: CliIo, report: WriteReport): void {
  const verb = report.operation === 'backfill' ? 'encrypted' : 'rewrapped';
  const would = report.dryRun ? `would be ${verb}` : verb;
  const seconds = (report.durationMs / 1000).toFixed(1);
  const resumed =
    report.resumedFrom === null ? '' : ` (resumed after ${String(report.resumedFrom)})`;
  line(
    io.stdout,
    `${report.operation} ${report.store}: ${report.status}${report.dryRun ? ' (dry run: nothing written)' : ''}, ${report.rows} rows in ${seconds} s${resumed}`,
  );
  for (const [field, f] of Object.entries(report.fields)) {
    const done = report.dryRun ? f.candidates : f.written;
    const failed = Object.entries(f.failed)
      .map(([code, n]) => `${n} ${code}`)
      .join(', ');
    const skipped =
      report.operation === 'backfill' ? 'already encrypted' : 'already under the primary';
    line(
      io.stdout,
      `  ${field}: ${done} ${would}, ${f.skipped} ${skipped}, ${f.nulls} null` +
        (report.operation === 'rewrap' ? `, ${f.plaintext} plaintext (run backfill)` : '') +
        `, ${f.conflicts} conflicts (${f.conflictsRemaining} remaining)` +
        (failed ? `, failed: ${failed}` : ''),
    );
  }
  if (report.deks !== undefined) {
    line(
      io.stdout,
      `  DEKs ${report.dryRun ? 'to move' : 'moved'} to ${report.deks.target}: ${report.deks.rewrapped} (server-side ${report.deks.serverSide}, unwrap + wrap ${report.deks.unwrapWrap})`,
    );
  }
}

export async function runWriteCommand(
  operation: 'backfill' | 'rewrap',
  options: WriteOptions,
  io: CliIo,
): Promise<ExitCode> {
  const loaded: LoadedConfig = await loadConfig(options.config, io.cwd, io.importModule);
  try {
    const stores = await storesOf(loaded, options.store);
    const shortcut = operation === 'rewrap' ? await shortcutKeyring(options) : undefined;
    if (operation === 'backfill' && (options.oldKeyFile || options.newKeyFile)) {
      throw new CmekInvalidInputError('--old-key-file / --new-key-file belong to rotate');
    }
    const keyring = shortcut ?? (await keyringOf(loaded));
    const envelope = createEnvelope({ kek: keyring });
    const checkpointDir =
      options.checkpointDir ?? loaded.config.checkpointDir ?? join(loaded.dir, '.cmek');
    const checkpoint = fileCheckpoints(checkpointDir);
    const progress = progressFor(io, options.json !== true);
    const kekCalls = { total: 0, byOperation: {} as Record<string, number> };
    const onEvent = (event: CmekEvent): void => {
      if (event.type !== 'kek-call') return;
      kekCalls.total++;
      kekCalls.byOperation[event.operation] = (kekCalls.byOperation[event.operation] ?? 0) + 1;
    };
    // One cache of moved DEKs for the whole run: a DEK shared by several stores (the application's
    // write-side DEK cache spans its tables) is moved once, not once per store.
    const cache = createRewrapCache();
    const reports: WriteReport[] = [];
    try {
      for (const store of stores) {
        if (options.restart === true && options.dryRun !== true) {
          await checkpoint.clear(operation, store.name);
        }
        const common = {
          ...(options.batch === undefined ? {} : { batchSize: options.batch }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          dryRun: options.dryRun === true,
          ...(io.signal ? { signal: io.signal } : {}),
          ...(progress.listener ? { onProgress: progress.listener } : {}),
          checkpoint,
        };
        const report =
          operation === 'backfill'
            ? await backfill(store, { ...common, envelope })
            : await rewrap(store, {
                ...common,
                keyring,
                cache,
                onEvent,
                includePrimary: options.includePrimary === true,
              });
        reports.push(report);
        if (options.json !== true) describe(io, report);
        if (report.status === 'aborted') break;
      }
    } finally {
      progress.stop();
      await envelope.close();
    }
    const exitCode = exitCodeOfWrites(reports);
    if (options.json === true) {
      line(
        io.stdout,
        JSON.stringify({
          command: operation === 'backfill' ? 'backfill' : 'rotate',
          dryRun: options.dryRun === true,
          exitCode,
          checkpointDir,
          ...(operation === 'rewrap' ? { kekCalls } : {}),
          stores: reports,
        }),
      );
    } else if (exitCode === EXIT.interrupted) {
      line(
        io.stderr,
        `cmek: interrupted; the checkpoint in ${checkpointDir} is kept: run the same command to resume`,
      );
    } else if (exitCode === EXIT.conflicts) {
      line(
        io.stderr,
        'cmek: rows changed by the application during the run remain: run the command again',
      );
    }
    return exitCode;
  } finally {
    await loaded.config.close?.();
  }
}
