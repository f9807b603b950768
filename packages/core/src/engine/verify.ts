/** `verify`: the inventory of a store: plaintext, encrypted per KEK, undecryptable. */
import { CmekConfigError, CmekError } from '../errors';
import type { Cursor, RowStore } from '../row-store';
import { parseToken } from '../token';
import { isTokenLike } from '../token-shape';
import { nonNegativeInteger, positiveInteger } from './counts';
import { checkStore } from './driver';
import { progressReporter, StoreScan } from './scan';
import { totalOf } from './total';
import {
  DEFAULT_MAX_UNDECRYPTABLE_IDS,
  type VerifyFieldReport,
  type VerifyOptions,
  type VerifyReport,
} from './types';

function emptyField(): VerifyFieldReport {
  return {
    nulls: 0,
    plaintext: 0,
    encrypted: [],
    undecryptable: 0,
    errors: [],
    undecryptableIds: [],
    undecryptableIdsTruncated: false,
  };
}

function routeOf(token: string): { providerId?: string; keyRef?: string } {
  try {
    const { record } = parseToken(token);
    return { providerId: record.providerId, keyRef: record.keyRef };
  } catch {
    return {};
  }
}

/**
 * Reads every row and decrypts every token under the store's `contextFor(field)`, through the
 * envelope's keyring. Writes nothing. An old KEK can be retired once a verify with a keyring
 * that no longer holds it reports `undecryptable: 0`. Each field lists the primary keys of its
 * first `maxUndecryptableIds` undecryptable rows (default 100), never their values.
 */
export async function verify(store: RowStore, options: VerifyOptions): Promise<VerifyReport> {
  checkStore(store);
  const envelope = options?.envelope;
  if (typeof envelope?.decryptMany !== 'function') {
    throw new CmekConfigError('verify needs { envelope }');
  }
  const started = performance.now();
  const batchSize = positiveInteger(options.batchSize, 500, 'batchSize');
  const maxIds = nonNegativeInteger(
    options.maxUndecryptableIds,
    DEFAULT_MAX_UNDECRYPTABLE_IDS,
    'maxUndecryptableIds',
  );
  const { signal, onProgress } = options;
  const fields: Record<string, VerifyFieldReport> = Object.fromEntries(
    store.fields.map((f) => [f, emptyField()]),
  );
  const encryptedIndex = new Map<string, VerifyFieldReport['encrypted'][number]>();
  const errorIndex = new Map<string, VerifyFieldReport['errors'][number]>();

  const countOk = (field: string, token: string): void => {
    const { providerId = '?', keyRef = '?' } = routeOf(token);
    const key = `${field}\u0000${providerId}\u0000${keyRef}`;
    let entry = encryptedIndex.get(key);
    if (entry === undefined) {
      entry = { providerId, keyRef, count: 0 };
      encryptedIndex.set(key, entry);
      fields[field]!.encrypted.push(entry);
    }
    entry.count++;
  };
  const countError = (field: string, id: Cursor, token: string, error: unknown): void => {
    if (!CmekError.isInstance(error)) throw error;
    const route = routeOf(token);
    const key = `${field}\u0000${error.code}\u0000${route.providerId}\u0000${route.keyRef}`;
    let entry = errorIndex.get(key);
    if (entry === undefined) {
      entry = { code: error.code, ...route, count: 0 };
      errorIndex.set(key, entry);
      fields[field]!.errors.push(entry);
    }
    entry.count++;
    const report = fields[field]!;
    report.undecryptable++;
    if (report.undecryptableIds.length < maxIds) report.undecryptableIds.push(id);
    else report.undecryptableIdsTruncated = true;
  };

  const scan = new StoreScan(store, batchSize, signal);
  const total = await totalOf(store, onProgress !== undefined);
  const progress = progressReporter(
    onProgress,
    { operation: 'verify', store: store.name, total },
    scan,
  );
  progress('start');
  for (;;) {
    const batch = await scan.next();
    if (batch === undefined) break;
    for (const field of store.fields) {
      const report = fields[field]!;
      const tokens: string[] = [];
      const ids: Cursor[] = [];
      for (const row of batch) {
        const value = row.values[field];
        if (value === null || value === undefined) report.nulls++;
        else if (!isTokenLike(value)) report.plaintext++;
        else {
          tokens.push(value);
          ids.push(row.id);
        }
      }
      if (tokens.length === 0) continue;
      const decryptOptions = {
        context: store.contextFor(field),
        plaintextPolicy: 'allow' as const,
      };
      try {
        await envelope.decryptMany(tokens, decryptOptions);
        for (const token of tokens) countOk(field, token);
      } catch {
        // At least one fails: decrypt one by one to tell which, and why.
        for (const [i, token] of tokens.entries()) {
          try {
            await envelope.decrypt(token, decryptOptions);
            countOk(field, token);
          } catch (error) {
            // A KEK service that is down says nothing about the values: end the run (exit 1)
            // instead of calling it once per value and counting them all undecryptable.
            if (CmekError.isInstance(error) && error.retryable) throw error;
            countError(field, ids[i]!, token, error);
          }
        }
      }
    }
    scan.advance(batch);
    progress('batch');
  }
  progress('done');
  return {
    operation: 'verify',
    store: store.name,
    status: scan.aborted ? 'aborted' : 'completed',
    rows: scan.rows,
    durationMs: Math.round(performance.now() - started),
    fields,
    undecryptable: Object.values(fields).reduce((sum, f) => sum + f.undecryptable, 0),
  };
}
