/** `cmek verify`: plaintext, encrypted per KEK and undecryptable, per store and field. */
import type { Cursor } from '@cmek/core';
import { type ProgressEvent, type VerifyReport, verify } from '@cmek/core/engine';
import { checkTenantStores, indexerOf, loadConfig, storesOf } from '../config';
import { EXIT, type ExitCode } from '../exit-codes';
import { type CliIo, line } from '../io';
import { describeKekCalls, KekCallCounter } from '../kek-summary';
import { fanOut, progressFor } from '../progress';
import { printJsonReport, type Session } from '../session';
import { commandEnvelope } from './envelope-setup';
import { type CommonOptions, progressOptions } from './shared';

export interface VerifyCommandOptions extends CommonOptions {
  /** `--max-undecryptable-ids`: the engine's `maxUndecryptableIds`. */
  maxUndecryptableIds?: number;
  /** Only this tenant's rows (stores with a `tenantColumn`, a tenant envelope in the config). */
  tenant?: string;
}

/** Primary keys of undecryptable rows shown per field in the human output (`--json` has more). */
const SHOWN_IDS = 5;

function describe(io: CliIo, report: VerifyReport): void {
  const indexProblems =
    report.indexProblems === undefined ? '' : `, ${report.indexProblems} blind-index problems`;
  const tenant = report.tenant === undefined ? '' : ` (tenant ${report.tenant})`;
  line(
    io.stdout,
    `verify ${report.store}${tenant}: ${report.status}, ${report.rows} rows, ${report.undecryptable} undecryptable${indexProblems}`,
  );
  for (const [field, f] of Object.entries(report.fields)) {
    line(
      io.stdout,
      `  ${field}: ${f.plaintext} plaintext, ${f.nulls} null, ${f.undecryptable} undecryptable`,
    );
    for (const e of f.encrypted)
      line(io.stdout, `    encrypted ${e.providerId} ${e.keyRef}: ${e.count}`);
    for (const e of f.errors) {
      const kek = e.providerId === undefined ? '' : ` (${e.providerId} ${e.keyRef})`;
      line(io.stdout, `    undecryptable ${e.code}${kek}: ${e.count}`);
    }
    const ids = f.undecryptableIds;
    if (ids.length > 0) {
      const shown = ids.slice(0, SHOWN_IDS).map(String).join(', ');
      const more = f.undecryptable - Math.min(ids.length, SHOWN_IDS);
      line(
        io.stdout,
        `    undecryptable rows (primary keys): ${shown}${more > 0 ? ` and ${more} more` : ''}`,
      );
    }
    for (const [column, c] of Object.entries(f.indexes ?? {})) {
      line(
        io.stdout,
        `    blind index ${column}: ${c.ok} ok, ${c.missing} missing, ${c.mismatched} mismatched`,
      );
      if (c.ids.length > 0) {
        const shown = c.ids.slice(0, SHOWN_IDS).map(String).join(', ');
        const more = c.missing + c.mismatched - Math.min(c.ids.length, SHOWN_IDS);
        line(
          io.stdout,
          `      rows to re-index (primary keys): ${shown}${more > 0 ? ` and ${more} more` : ''}`,
        );
      }
    }
  }
}

/** The exit code of a verify: interrupted, then undecryptable values, then blind-index problems. */
export function exitCodeOfVerify(reports: readonly VerifyReport[]): ExitCode {
  if (reports.some((r) => r.status === 'aborted')) return EXIT.interrupted;
  if (reports.some((r) => r.undecryptable > 0)) return EXIT.undecryptable;
  if (reports.some((r) => (r.indexProblems ?? 0) > 0)) return EXIT.indexProblems;
  return EXIT.ok;
}

const sum = (reports: readonly VerifyReport[], of: (r: VerifyReport) => number): number =>
  reports.reduce((n, r) => n + of(r), 0);

/** A store whose inventory did not finish: the rows read before the command stopped. */
interface UnfinishedVerifyReport {
  readonly operation: 'verify';
  readonly store: string;
  readonly tenant?: string;
  readonly status: 'failed' | 'interrupted';
  readonly rows: number;
  readonly cursor: Cursor | null;
}

export async function runVerify(
  options: VerifyCommandOptions,
  io: CliIo,
  session: Session,
): Promise<ExitCode> {
  const loaded = await loadConfig(options.config, io.cwd, io.importModule);
  try {
    const stores = await storesOf(loaded, options.store);
    const { tenant } = options;
    if (tenant !== undefined) checkTenantStores(stores, tenant);
    const counter = new KekCallCounter();
    const onEvent = fanOut(counter.onEvent, loaded.config.onEvent);
    counter.start();
    const setup = await commandEnvelope(loaded, onEvent, tenant);
    const { envelope } = setup;
    let indexer: Awaited<ReturnType<typeof indexerOf>>;
    try {
      indexer = await indexerOf(loaded, stores, { keyring: setup.indexKeyring, onEvent });
    } catch (error) {
      await setup.close();
      throw error;
    }
    const progress = progressFor(io, progressOptions(options));
    const reports: VerifyReport[] = [];
    let latest: ProgressEvent | undefined;
    const body = (inFlight?: UnfinishedVerifyReport['status']): Record<string, unknown> => {
      const current: UnfinishedVerifyReport[] =
        inFlight !== undefined &&
        session.store !== undefined &&
        !reports.some((r) => r.store === session.store)
          ? [
              {
                operation: 'verify',
                store: session.store,
                ...(tenant === undefined ? {} : { tenant }),
                status: inFlight,
                rows: latest?.store === session.store ? latest.rows : 0,
                cursor: latest?.store === session.store ? latest.cursor : null,
              },
            ]
          : [];
      const all = [...reports, ...current];
      return {
        ...(tenant === undefined ? {} : { tenant }),
        undecryptable: sum(reports, (r) => r.undecryptable),
        indexProblems: sum(reports, (r) => r.indexProblems ?? 0),
        kekCalls: counter.summary(),
        stores: all,
        notRun: stores.map((s) => s.name).filter((name) => !all.some((r) => r.store === name)),
      };
    };
    session.snapshot = (status) => body(status);
    try {
      for (const store of stores) {
        session.store = store.name;
        const report = await verify(store, {
          envelope,
          ...(tenant === undefined ? {} : { tenant }),
          ...(options.batch === undefined ? {} : { batchSize: options.batch }),
          ...(options.maxUndecryptableIds === undefined
            ? {}
            : { maxUndecryptableIds: options.maxUndecryptableIds }),
          ...(io.signal ? { signal: io.signal } : {}),
          ...(indexer ? { indexer } : {}),
          onProgress: fanOut(
            progress.listener,
            (e) => {
              latest = e;
            },
            counter.onProgress,
            loaded.config.onProgress,
          ),
        });
        reports.push(report);
        if (options.json !== true) describe(io, report);
        if (report.status === 'aborted') break;
      }
      session.store = undefined;
    } finally {
      progress.stop();
      indexer?.close();
      await setup.close();
    }
    const exitCode = exitCodeOfVerify(reports);
    const undecryptable = sum(reports, (r) => r.undecryptable);
    const indexProblems = sum(reports, (r) => r.indexProblems ?? 0);
    if (options.json === true) {
      printJsonReport(session, io.stdout, exitCode, undefined, body());
    } else {
      line(io.stdout, describeKekCalls(counter.summary()));
      if (exitCode === EXIT.undecryptable) {
        line(
          io.stderr,
          `cmek: ${undecryptable} values cannot be decrypted with this keyring: do not retire a KEK they need`,
        );
      }
      if (indexProblems > 0 && exitCode !== EXIT.interrupted) {
        line(
          io.stderr,
          `cmek: ${indexProblems} blind-index values are missing or do not match their value: run cmek backfill`,
        );
      }
    }
    return exitCode;
  } finally {
    await loaded.config.close?.();
  }
}
