/** `cmek backfill` and `cmek rotate`: the engine's write operations over the configured stores. */
import { join } from 'node:path';
import {
  CmekConfigError,
  type CmekEventListener,
  CmekInvalidInputError,
  createEnvelope,
  createKeyring,
  type Keyring,
} from '@cmek/core';
import { backfill, createRewrapCache, fileCheckpoints, rewrap } from '@cmek/core/engine';
import { createLocalKekProvider } from '@cmek/provider-local';
import { checkTenantStores, indexerOf, type LoadedConfig, loadConfig, storesOf } from '../config';
import { EXIT, type ExitCode } from '../exit-codes';
import { guardStore } from '../guarded-store';
import { type CliIo, line } from '../io';
import { describeKekCalls, KekCallCounter } from '../kek-summary';
import { fanOut, progressFor } from '../progress';
import { RunTracker, type StoreWriteReport, type UnfinishedWriteReport } from '../run-tracker';
import { printJsonReport, type Session } from '../session';
import { type CommandEnvelope, commandEnvelope } from './envelope-setup';
import { type CommonOptions, progressOptions } from './shared';

export interface WriteOptions extends CommonOptions {
  dryRun?: boolean;
  concurrency?: number;
  checkpointDir?: string;
  restart?: boolean;
  /** Only this tenant's rows (stores with a `tenantColumn`, a tenant envelope in the config). */
  tenant?: string;
  /** backfill only: recompute every blind index and rewrite the mismatched ones. */
  reindex?: boolean;
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

/** `--old-key-file` / `--new-key-file`: the files' keyring, closed with the envelope over it. */
function keyFileEnvelope(keyring: Keyring, onEvent: CmekEventListener): CommandEnvelope {
  const envelope = createEnvelope({ kek: keyring, onEvent });
  return {
    envelope,
    indexKeyring: keyring,
    rotateKeyring: async () => keyring,
    close: () => envelope.close(),
  };
}

export function exitCodeOfWrites(reports: readonly StoreWriteReport[]): ExitCode {
  if (reports.some((r) => r.status === 'aborted')) return EXIT.interrupted;
  const fields = reports.flatMap((r) => Object.values(r.fields ?? {}));
  if (fields.some((f) => Object.values(f.failed).some((n) => n > 0))) return EXIT.failure;
  if (fields.some((f) => f.conflictsRemaining > 0)) return EXIT.conflicts;
  return EXIT.ok;
}

function describe(report: StoreWriteReport): string[] {
  const out: string[] = [];
  const verb = report.operation === 'backfill' ? 'encrypted' : 'rewrapped';
  const would = report.dryRun ? `would be ${verb}` : verb;
  const seconds = (report.durationMs / 1000).toFixed(1);
  const resumed =
    report.resumedFrom === null ? '' : ` (resumed after ${String(report.resumedFrom)})`;
  const tenant = report.tenant === undefined ? '' : ` (tenant ${report.tenant})`;
  out.push(
    `${report.operation} ${report.store}${tenant}: ${report.status}${report.dryRun ? ' (dry run: nothing written)' : ''}, ${report.rows} rows in ${seconds} s${resumed}`,
  );
  for (const [field, f] of Object.entries(report.fields ?? {})) {
    const done = report.dryRun ? f.candidates : f.written;
    const failed = Object.entries(f.failed)
      .map(([code, n]) => `${n} ${code}`)
      .join(', ');
    const skipped =
      report.operation === 'backfill' ? 'already encrypted' : 'already under the primary';
    out.push(
      `  ${field}: ${done} ${would}, ${f.skipped} ${skipped}, ${f.nulls} null` +
        (report.operation === 'rewrap' ? `, ${f.plaintext} plaintext (run backfill)` : '') +
        `, ${f.conflicts} conflicts (${f.conflictsRemaining} remaining)` +
        (failed ? `, failed: ${failed}` : ''),
    );
  }
  for (const [field, f] of Object.entries(report.fields ?? {})) {
    if (f.indexes === undefined) continue;
    const done = report.dryRun ? f.indexes.candidates : f.indexes.written;
    out.push(`  ${field} blind indexes: ${done} ${report.dryRun ? 'would be written' : 'written'}`);
  }
  if ('deks' in report && report.deks !== undefined) {
    out.push(
      `  DEKs ${report.dryRun ? 'to move' : 'moved'} to ${report.deks.target}: ${report.deks.rewrapped} (server-side ${report.deks.serverSide}, unwrap + wrap ${report.deks.unwrapWrap})`,
    );
  }
  return out;
}

export async function runWriteCommand(
  operation: 'backfill' | 'rewrap',
  options: WriteOptions,
  io: CliIo,
  session: Session,
): Promise<ExitCode> {
  const loaded: LoadedConfig = await loadConfig(options.config, io.cwd, io.importModule);
  try {
    const stores = (await storesOf(loaded, options.store)).map(guardStore);
    const { tenant } = options;
    if (tenant !== undefined) checkTenantStores(stores, tenant);
    const shortcut = operation === 'rewrap' ? await shortcutKeyring(options) : undefined;
    if (operation === 'rewrap' && tenant === undefined && shortcut === undefined) {
      // One keyring for every tenant would move each customer's values off the customer's key.
      const tenanted = stores.find((s) => typeof s.tenantColumn === 'string');
      if (tenanted !== undefined) {
        throw new CmekConfigError(
          `rotate: store '${tenanted.name}' has a tenant column, so its values are rotated one tenant at a time: pass --tenant <id>`,
        );
      }
    }
    if (operation === 'backfill' && (options.oldKeyFile || options.newKeyFile)) {
      throw new CmekInvalidInputError('--old-key-file / --new-key-file belong to rotate');
    }
    if (operation === 'rewrap' && options.reindex === true) {
      throw new CmekInvalidInputError('--reindex belongs to backfill');
    }
    const counter = new KekCallCounter();
    const onEvent = fanOut(counter.onEvent, loaded.config.onEvent);
    const dryRun = options.dryRun === true;
    counter.start();
    // The key-file shortcut needs nothing of the config's keys (not even with --tenant).
    const setup: CommandEnvelope =
      shortcut === undefined
        ? await commandEnvelope(loaded, onEvent, tenant)
        : keyFileEnvelope(shortcut, onEvent);
    const { envelope } = setup;
    let indexer: Awaited<ReturnType<typeof indexerOf>>;
    let keyring: Keyring | undefined;
    try {
      // A rewrap leaves index columns alone: only a backfill needs the indexer (and its KEK call).
      indexer =
        operation === 'backfill'
          ? await indexerOf(loaded, stores, { keyring: setup.indexKeyring, onEvent })
          : undefined;
      keyring = operation === 'rewrap' ? await setup.rotateKeyring() : undefined;
    } catch (error) {
      await setup.close();
      throw error;
    }
    const checkpointDir =
      options.checkpointDir ?? loaded.config.checkpointDir ?? join(loaded.dir, '.cmek');
    const tracker = new RunTracker(checkpointDir, fileCheckpoints(checkpointDir), tenant);
    const checkpoint = tracker.checkpoints;
    const progress = progressFor(io, progressOptions(options));
    // One cache of moved DEKs for the whole run: a DEK shared by several stores (the application's
    // write-side DEK cache spans its tables) is moved once, not once per store.
    const cache = createRewrapCache();
    const reports: StoreWriteReport[] = [];
    /** The report's fields; `inFlight`: how the store the command stopped in is marked. */
    const body = (inFlight?: UnfinishedWriteReport['status']): Record<string, unknown> => {
      const done = new Set(reports.map((r) => r.store));
      const current =
        inFlight !== undefined && session.store !== undefined && !done.has(session.store)
          ? [tracker.unfinished(operation, session.store, dryRun, inFlight)]
          : [];
      const all = [...reports, ...current];
      const reached = new Set(all.map((r) => r.store));
      return {
        ...(tenant === undefined ? {} : { tenant }),
        dryRun,
        checkpointDir,
        kekCalls: counter.summary(),
        stores: all,
        notRun: stores.map((s) => s.name).filter((name) => !reached.has(name)),
      };
    };
    session.snapshot = (status) => body(status);
    session.failureLines = () => {
      const current = session.store;
      if (current === undefined || reports.some((r) => r.store === current)) return [];
      const unfinished = tracker.unfinished(operation, current, dryRun, 'failed');
      const where =
        unfinished.checkpoint === null
          ? 'no checkpoint: the next run starts at the first row'
          : `the checkpoint ${unfinished.checkpoint.path} (after ${String(unfinished.checkpoint.cursor)}) is kept: run the same command to resume`;
      return [
        ...describe(unfinished),
        describeKekCalls(counter.summary()),
        `cmek: ${session.command} stopped in ${current}; ${where}`,
      ];
    };
    try {
      for (const store of stores) {
        session.store = store.name;
        if (options.restart === true && !dryRun) {
          await checkpoint.clear(operation, store.name, tenant);
        }
        const common = {
          ...(options.batch === undefined ? {} : { batchSize: options.batch }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          dryRun,
          ...(io.signal ? { signal: io.signal } : {}),
          onProgress: fanOut(
            progress.listener,
            (e) => tracker.onProgress(e),
            counter.onProgress,
            loaded.config.onProgress,
          ),
          checkpoint,
          ...(tenant === undefined ? {} : { tenant }),
        };
        const report =
          operation === 'backfill'
            ? await backfill(store, {
                ...common,
                envelope,
                ...(indexer ? { indexer } : {}),
                ...(options.reindex === true ? { reindex: true } : {}),
              })
            : await rewrap(store, {
                ...common,
                keyring: keyring!,
                cache,
                onEvent,
                includePrimary: options.includePrimary === true,
              });
        const full = { ...report, checkpoint: tracker.checkpointOf(operation, store.name) };
        reports.push(full);
        if (options.json !== true) for (const text of describe(full)) line(io.stdout, text);
        if (report.status === 'aborted') break;
      }
      session.store = undefined;
    } finally {
      progress.stop();
      indexer?.close();
      await setup.close();
    }
    const exitCode = exitCodeOfWrites(reports);
    if (options.json !== true) line(io.stdout, describeKekCalls(counter.summary()));
    if (options.json === true) {
      printJsonReport(session, io.stdout, exitCode, undefined, body());
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
