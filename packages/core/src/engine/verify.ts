/** `verify`: the inventory of a store: plaintext, encrypted per KEK, undecryptable. */
import { CmekConfigError, CmekError } from '../errors';
import type { Cursor, RowStore } from '../row-store';
import { parseToken } from '../token';
import { isTokenLike } from '../token-shape';
import { nonNegativeInteger, positiveInteger } from './counts';
import { checkStore } from './driver';
import { type FieldIndexes, indexOf, storeIndexes } from './indexes';
import { failureOf, progressReporter, StoreScan, tookSince } from './scan';
import { perTenant, refusesTenant, tenantScope } from './tenants';
import { totalOf } from './total';
import {
  DEFAULT_MAX_UNDECRYPTABLE_IDS,
  type VerifyFieldReport,
  type VerifyIndexReport,
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
  const { signal, onProgress, indexer } = options;
  const tenant = tenantScope(store, options.tenant);
  const indexes = storeIndexes(store, indexer, 'verify');
  const fields: Record<string, VerifyFieldReport> = Object.fromEntries(
    store.fields.map((f) => {
      const index = indexes.get(f);
      if (index === undefined) return [f, emptyField()];
      const columns = index.specs.map((spec): [string, VerifyIndexReport] => [
        spec.column,
        { ok: 0, missing: 0, mismatched: 0, ids: [], idsTruncated: false },
      ]);
      return [f, { ...emptyField(), indexes: Object.fromEntries(columns) }];
    }),
  );

  /** Compares each row's index columns with the index of its readable value (`undefined`: not readable). */
  const checkIndexes = async (
    field: string,
    index: FieldIndexes,
    rows: readonly { id: Cursor; indexes?: Readonly<Record<string, string | null>> }[],
    plain: readonly (string | null | undefined)[],
  ): Promise<void> => {
    const reports = fields[field]!.indexes!;
    for (const spec of index.specs) {
      const report = reports[spec.column]!;
      const expected = await Promise.all(
        plain.map((p) => (typeof p === 'string' ? indexOf(indexer!, index, spec, p) : p)),
      );
      rows.forEach((row, i) => {
        const want = expected[i];
        if (want === undefined) return;
        const stored = row.indexes?.[spec.column] ?? null;
        if (stored === want) {
          report.ok++;
          return;
        }
        if (stored === null) report.missing++;
        else report.mismatched++;
        if (report.ids.length < maxIds) report.ids.push(row.id);
        else report.idsTruncated = true;
      });
    }
  };
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

  /**
   * Decrypts one tenant's tokens (or the store's) into `plain` at `tokenRow`, counting each; a
   * tenant refused as a whole (unknown, revoked key) counts all of them without a call per value.
   */
  const openTokens = async (
    field: string,
    tokens: readonly string[],
    ids: readonly Cursor[],
    at: readonly number[],
    plain: (string | null | undefined)[],
    context: Record<string, string>,
  ): Promise<void> => {
    const decryptOptions = { context, plaintextPolicy: 'allow' as const };
    try {
      const opened = await envelope.decryptMany(tokens, decryptOptions);
      for (const [i, token] of tokens.entries()) {
        countOk(field, token);
        plain[at[i]!] = opened[i] ?? undefined;
      }
    } catch (error) {
      if (refusesTenant(error)) {
        for (const [i, token] of tokens.entries()) countError(field, ids[i]!, token, error);
        return;
      }
      // At least one fails: decrypt one by one to tell which, and why.
      for (const [i, token] of tokens.entries()) {
        try {
          plain[at[i]!] = await envelope.decrypt(token, decryptOptions);
          countOk(field, token);
        } catch (error) {
          // A KEK service that is down says nothing about the values: end the run (exit 1)
          // instead of calling it once per value and counting them all undecryptable.
          if (CmekError.isInstance(error) && error.retryable) throw error;
          countError(field, ids[i]!, token, error);
        }
      }
    }
  };

  const scan = new StoreScan(store, batchSize, signal, {}, tenant);
  const total = await totalOf(store, onProgress !== undefined, tenant);
  const progress = progressReporter(
    onProgress,
    { operation: 'verify', store: store.name, total, tenant },
    scan,
  );
  progress('start');
  try {
    for (;;) {
      const batchStarted = performance.now();
      const batch = await scan.next();
      if (batch === undefined) break;
      for (const field of store.fields) {
        const report = fields[field]!;
        const tokens: string[] = [];
        const ids: Cursor[] = [];
        // The readable value of each row, for its index: null, the plaintext, undefined if unreadable.
        const plain: (string | null | undefined)[] = [];
        const tokenRow: number[] = [];
        /** The position in `batch` of each token's row. */
        const tokenAt: number[] = [];
        for (const [r, row] of batch.entries()) {
          const value = row.values[field];
          if (value === null || value === undefined) {
            report.nulls++;
            plain.push(null);
          } else if (!isTokenLike(value)) {
            report.plaintext++;
            plain.push(value);
          } else {
            tokens.push(value);
            ids.push(row.id);
            tokenAt.push(r);
            tokenRow.push(plain.length);
            plain.push(undefined);
          }
        }
        const index = indexes.get(field);
        if (tokens.length > 0) {
          const entries = tokens.map((token, i) => ({ token, id: ids[i]!, at: tokenRow[i]! }));
          await perTenant(store, field, batch, tokenAt, entries, async (group, context) => {
            await openTokens(
              field,
              group.map((e) => e.token),
              group.map((e) => e.id),
              group.map((e) => e.at),
              plain,
              context,
            );
            return group;
          });
        }
        if (index !== undefined) await checkIndexes(field, index, batch, plain);
      }
      scan.advance(batch);
      progress('batch', tookSince(batchStarted));
    }
  } catch (error) {
    progress('failed', failureOf(error));
    throw error;
  }
  progress('done');
  return {
    operation: 'verify',
    store: store.name,
    ...(tenant === undefined ? {} : { tenant }),
    status: scan.aborted ? 'aborted' : 'completed',
    rows: scan.rows,
    durationMs: Math.round(performance.now() - started),
    fields,
    undecryptable: Object.values(fields).reduce((sum, f) => sum + f.undecryptable, 0),
    ...(indexes.size === 0
      ? {}
      : {
          indexProblems: Object.values(fields).reduce(
            (sum, f) =>
              sum +
              Object.values(f.indexes ?? {}).reduce((n, c) => n + c.missing + c.mismatched, 0),
            0,
          ),
        }),
  };
}
