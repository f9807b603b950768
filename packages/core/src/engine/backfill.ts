/** `backfill`: encrypts the legacy plaintext of a store, batch by batch, with compare-and-set writes. */
import { CmekConfigError } from '../errors';
import type { Row, RowStore } from '../row-store';
import { countFailure } from './counts';
import { type PlannedWrite, runWrites } from './driver';
import type { BackfillOptions, WriteFieldReport, WriteReport } from './types';

/**
 * Encrypts every plaintext value of the store's fields under `contextFor(field)`. Values that are
 * already tokens (anything starting with `cmek:`) and nulls are skipped, so a second run writes
 * nothing. A value the application changed since it was read is not overwritten: the write is
 * counted as a conflict and the row is read again after the pass.
 */
export async function backfill(store: RowStore, options: BackfillOptions): Promise<WriteReport> {
  const envelope = options?.envelope;
  if (typeof envelope?.encryptMany !== 'function') {
    throw new CmekConfigError('backfill needs { envelope }');
  }
  const dryRun = options.dryRun === true;
  return runWrites(store, options, {
    operation: 'backfill',
    async plan(rows: readonly Row[], fields: readonly string[], counts) {
      const writes: PlannedWrite[] = [];
      for (const field of fields) {
        const report = counts[field] as WriteFieldReport;
        const at: number[] = [];
        const values: string[] = [];
        rows.forEach((row, i) => {
          const value = row.values[field];
          if (value === null || value === undefined) report.nulls++;
          else if (typeof value !== 'string') countFailure(report, 'CMEK_INVALID_INPUT');
          else if (envelope.isEncrypted(value)) report.skipped++;
          else {
            report.candidates++;
            at.push(i);
            values.push(value);
          }
        });
        if (values.length === 0) continue;
        const tokens = dryRun
          ? undefined
          : await envelope.encryptMany(values, { context: store.contextFor(field) });
        at.forEach((row, k) => {
          writes.push({ row, field, expected: values[k]!, next: tokens?.[k] ?? undefined });
        });
      }
      return writes;
    },
  });
}
