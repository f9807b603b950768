/** `rewrap`: moves every wrapped DEK of a store to the keyring's primary KEK. */

import { emitterOf } from '../emitter';
import { CmekConfigError, CmekError } from '../errors';
import { kekCallHookOf } from '../kek-call-hook';
import { isKeyring } from '../keyring';
import type { Row, RowStore } from '../row-store';
import { type ParsedToken, parseToken, TOKEN_PREFIX } from '../token';
import { isTokenLike } from '../token-shape';
import { countFailure, positiveInteger } from './counts';
import { DekMover, isFatal } from './dek-mover';
import { type PlannedWrite, runWrites } from './driver';
import { eachLimit } from './limit';
import { MoveCache, type MoveOutcome, moveCacheOf } from './rewrap-cache';
import type { RewrapOptions, WriteFieldReport, WriteReport } from './types';

/** The call's private cache, or the shared one bound to the keyring's primary. */
function cacheFor(options: RewrapOptions): MoveCache {
  if (options.cache === undefined) {
    return new MoveCache(positiveInteger(options.maxCachedDeks, 100_000, 'maxCachedDeks'));
  }
  if (options.maxCachedDeks !== undefined) {
    throw new CmekConfigError(
      'rewrap takes maxCachedDeks or a cache, not both: give the cache its limit with createRewrapCache({ maxEntries })',
    );
  }
  const cache = moveCacheOf(options.cache);
  cache.bind(options.keyring);
  return cache;
}

interface Candidate {
  readonly row: number;
  readonly field: string;
  readonly token: string;
  readonly parsed: ParsedToken;
}

/**
 * Rewrites each token whose DEK is not under the primary KEK with the DEK wrapped under the
 * primary; the salt and the Fernet part are kept byte for byte (the DEK does not change). Each
 * distinct DEK costs one server-side rewrap, or one unwrap plus one wrap, however many values
 * share it; with a shared `cache` (`createRewrapCache`), however many stores share it. Writes are
 * compare-and-set, as in `backfill`.
 */
export async function rewrap(store: RowStore, options: RewrapOptions): Promise<WriteReport> {
  const keyring = options?.keyring;
  if (!isKeyring(keyring)) throw new CmekConfigError('rewrap needs { keyring } from createKeyring');
  // A failing metrics hook must not stop a rotation half way: `emitterOf` ignores its throws.
  const kek = { emit: emitterOf(options.onEvent), hook: kekCallHookOf(options.kekCallHook) };
  const mover = new DekMover(keyring, kek, cacheFor(options));
  const concurrency = positiveInteger(options.concurrency, 8, 'concurrency');
  const dryRun = options.dryRun === true;
  const primary = keyring.primary;
  const passThroughPrimary = options.includePrimary === true && primary.rewrap !== undefined;
  const wouldMove = new Set<string>();

  const report = await runWrites(store, options, {
    operation: 'rewrap',
    target: mover.target,
    async plan(rows: readonly Row[], fields: readonly string[], counts) {
      const candidates: Candidate[] = [];
      for (const field of fields) {
        const report = counts[field] as WriteFieldReport;
        rows.forEach((row, i) => {
          const value = row.values[field];
          if (value === null || value === undefined) report.nulls++;
          else if (!isTokenLike(value)) report.plaintext++;
          else {
            let parsed: ParsedToken;
            try {
              parsed = parseToken(value);
            } catch (error) {
              countFailure(report, CmekError.isInstance(error) ? error.code : 'CMEK_FORMAT');
              return;
            }
            const underPrimary =
              parsed.record.providerId === primary.providerId &&
              parsed.record.keyRef === primary.keyRef;
            if (underPrimary && !passThroughPrimary) report.skipped++;
            else {
              report.candidates++;
              candidates.push({ row: i, field, token: value, parsed });
            }
          }
        });
      }
      if (dryRun) {
        for (const c of candidates) wouldMove.add(c.parsed.kekText);
        return candidates.map((c) => ({
          row: c.row,
          field: c.field,
          expected: c.token,
          next: undefined,
        }));
      }
      const outcomes = new Map<string, MoveOutcome>();
      const distinct = new Map(candidates.map((c) => [c.parsed.kekText, c.parsed.record]));
      await eachLimit([...distinct], concurrency, options.signal, async ([kekText, record]) => {
        outcomes.set(kekText, await mover.move(kekText, record));
      });
      const writes: PlannedWrite[] = [];
      for (const c of candidates) {
        const outcome = outcomes.get(c.parsed.kekText);
        if (outcome === undefined) continue; // Aborted before this DEK: the batch is dropped.
        const report = counts[c.field] as WriteFieldReport;
        if (!outcome.ok) {
          if (isFatal(outcome.error)) throw outcome.error;
          countFailure(report, outcome.error.code);
          continue;
        }
        if (outcome.kekText === c.parsed.kekText) {
          report.candidates--;
          report.skipped++;
          continue;
        }
        const rest = c.token.slice(TOKEN_PREFIX.length + c.parsed.kekText.length);
        writes.push({
          row: c.row,
          field: c.field,
          expected: c.token,
          next: `${TOKEN_PREFIX}${outcome.kekText}${rest}`,
        });
      }
      return writes;
    },
  });
  const moved = dryRun ? wouldMove.size : mover.serverSide + mover.unwrapWrap;
  return {
    ...report,
    deks: {
      rewrapped: moved,
      serverSide: mover.serverSide,
      unwrapWrap: mover.unwrapWrap,
      target: mover.target,
    },
  };
}
