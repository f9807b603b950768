/** `backfill`: encrypts the legacy plaintext of a store, batch by batch, with compare-and-set writes. */
import { CmekConfigError, CmekError } from '../errors';
import type { IndexValues, Row, RowStore } from '../row-store';
import { countFailure } from './counts';
import { type PlannedWrite, runWrites } from './driver';
import { type FieldIndexes, indexOf, storeIndexes } from './indexes';
import { perTenant, refusesTenant } from './tenants';
import type { BackfillOptions, WriteFieldReport, WriteReport } from './types';

/**
 * Encrypts every plaintext value of the store's fields under `contextFor(field)`. Values that are
 * already tokens (anything starting with `cmek:`) and nulls are skipped, so a second run writes
 * nothing. A value the application changed since it was read is not overwritten: the write is
 * counted as a conflict and the row is read again after the pass.
 *
 * A store that declares `blindIndexes` (then `indexer` is required) gets its index columns filled
 * in the same pass: a plaintext is encrypted and indexed in one write; a token whose index column
 * is empty, or holds a value of another key or mode (a rotation), is decrypted and its index
 * written, the token itself unchanged (it is the compare-and-set's guard). With `reindex: true`,
 * every token with index values of the current key and mode is decrypted too, its index
 * recomputed, and the columns whose stored value differs (a `mismatched` of verify) rewritten
 * under the same guard.
 */
export async function backfill(store: RowStore, options: BackfillOptions): Promise<WriteReport> {
  const envelope = options?.envelope;
  if (typeof envelope?.encryptMany !== 'function') {
    throw new CmekConfigError('backfill needs { envelope }');
  }
  const dryRun = options.dryRun === true;
  const reindex = options.reindex === true;
  const { indexer } = options;
  const indexes = storeIndexes(store, indexer, 'backfill');

  /** The values of the columns of `field` that `due` names, from the plaintext. */
  const indexValues = async (
    field: FieldIndexes,
    plaintext: string,
    due: readonly boolean[],
  ): Promise<IndexValues> => {
    const entries = await Promise.all(
      field.specs.map(async (spec, j) =>
        due[j] ? [[spec.column, await indexOf(indexer!, field, spec, plaintext)] as const] : [],
      ),
    );
    return Object.fromEntries(entries.flat());
  };

  /** A tenant refused as a whole (unknown, revoked key): its values are counted, the run goes on. */
  const refused = (error: unknown, count: number, report: WriteFieldReport): undefined[] => {
    if (!refusesTenant(error)) throw error;
    for (let i = 0; i < count; i++) countFailure(report, error.code);
    return new Array<undefined>(count).fill(undefined);
  };

  /** Encrypts the plaintexts of one tenant (or of the store); a refused tenant gives `undefined`s. */
  const sealAll = async (
    values: readonly string[],
    context: Record<string, string>,
    report: WriteFieldReport,
  ): Promise<(string | undefined)[]> => {
    try {
      return (await envelope.encryptMany(values, { context })) as string[];
    } catch (error) {
      return refused(error, values.length, report);
    }
  };

  /** Decrypts tokens whose index is due; a value that does not decrypt is counted and left out. */
  const openAll = async (
    tokens: readonly string[],
    context: Record<string, string>,
    report: WriteFieldReport,
  ): Promise<(string | undefined)[]> => {
    const decryptOptions = { context, plaintextPolicy: 'allow' as const };
    try {
      return (await envelope.decryptMany(tokens, decryptOptions)) as string[];
    } catch (error) {
      if (refusesTenant(error)) return refused(error, tokens.length, report);
      return Promise.all(
        tokens.map(async (token) => {
          try {
            return await envelope.decrypt(token, decryptOptions);
          } catch (error) {
            if (!CmekError.isInstance(error) || error.retryable) throw error;
            countFailure(report, error.code);
            return undefined;
          }
        }),
      );
    }
  };

  return runWrites(store, options, {
    operation: 'backfill',
    indexed: new Set(indexes.keys()),
    async plan(rows: readonly Row[], fields: readonly string[], counts) {
      const writes: PlannedWrite[] = [];
      for (const field of fields) {
        const report = counts[field] as WriteFieldReport;
        const index = indexes.get(field);
        const at: number[] = [];
        const values: string[] = [];
        const tokenAt: number[] = [];
        const tokens: string[] = [];
        const tokenDue: boolean[][] = [];
        /** Whether a token's index is recomputed whole and compared (`reindex`). */
        const tokenChecked: boolean[] = [];
        rows.forEach((row, i) => {
          const value = row.values[field];
          if (value === null || value === undefined) report.nulls++;
          else if (typeof value !== 'string') countFailure(report, 'CMEK_INVALID_INPUT');
          else if (envelope.isEncrypted(value)) {
            report.skipped++;
            if (index === undefined) return;
            const due = index.specs.map((spec, j) => {
              const stored = row.indexes?.[spec.column];
              return typeof stored !== 'string' || !stored.startsWith(index.prefixes[j]!);
            });
            // reindex: every column is recomputed, and a candidate counted once a value differs.
            const checked = reindex && !dryRun;
            if (checked) due.fill(true);
            else if (due.includes(true)) report.indexes!.candidates++;
            else return;
            tokenChecked.push(checked);
            tokenAt.push(i);
            tokens.push(value);
            tokenDue.push(due);
          } else {
            report.candidates++;
            if (report.indexes !== undefined) report.indexes.candidates++;
            at.push(i);
            values.push(value);
          }
        });
        if (values.length > 0) {
          const encrypted = dryRun
            ? undefined
            : await perTenant(store, field, rows, at, values, (group, context) =>
                sealAll(group, context, report),
              );
          const all = index?.specs.map(() => true);
          const indexed =
            dryRun || index === undefined
              ? undefined
              : await Promise.all(values.map((v) => indexValues(index, v, all!)));
          at.forEach((row, k) => {
            if (encrypted !== undefined && encrypted[k] === undefined) return;
            writes.push({
              row,
              field,
              expected: values[k]!,
              next: encrypted?.[k] ?? undefined,
              ...(indexed === undefined ? {} : { indexes: indexed[k]! }),
            });
          });
        }
        if (tokens.length > 0 && index !== undefined) {
          if (dryRun) {
            for (const [k, row] of tokenAt.entries()) {
              writes.push({ row, field, expected: tokens[k]!, next: undefined, indexOnly: true });
            }
            continue;
          }
          const opened = await perTenant(store, field, rows, tokenAt, tokens, (group, context) =>
            openAll(group, context, report),
          );
          const indexed = await Promise.all(
            opened.map((plain, k) =>
              plain === undefined ? undefined : indexValues(index, plain, tokenDue[k]!),
            ),
          );
          tokenAt.forEach((row, k) => {
            let values = indexed[k];
            if (values === undefined) return;
            if (tokenChecked[k]) {
              const stored = rows[row]!.indexes ?? {};
              const changed = Object.entries(values).filter(([c, v]) => (stored[c] ?? null) !== v);
              if (changed.length === 0) return;
              report.indexes!.candidates++;
              values = Object.fromEntries(changed);
            }
            writes.push({
              row,
              field,
              expected: tokens[k]!,
              next: tokens[k]!,
              indexes: values,
              indexOnly: true,
            });
          });
        }
      }
      return writes;
    },
  });
}
