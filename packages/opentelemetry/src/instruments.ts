/**
 * The instruments of one telemetry: synchronous ones for what is rare (KEK calls, failures, engine
 * batches), observable ones fed by `Tally` for what can fire once per value (cache lookups,
 * plaintext reads, values).
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { CMEK_ATTRIBUTES as A, KEK_DURATION_BUCKETS, CMEK_METRICS as M } from './names';
import { Tally } from './tally';

export interface AttributeChoices {
  readonly keyRef: boolean;
  readonly field: boolean;
}

/** Lookups of one cache, split by result. */
export interface CacheTallies {
  readonly hit: Tally;
  readonly miss: Tally;
}

export interface Instruments {
  readonly kekCalls: Counter;
  readonly kekDuration: Histogram;
  readonly kekDeks: Counter;
  readonly decryptFailures: Counter;
  readonly evictions: Counter;
  readonly staleUses: Counter;
  readonly engineRows: Counter;
  readonly engineWrites: Counter;
  /** By cache name; a cache core adds later gets its tallies on first use. */
  readonly lookups: Map<string, CacheTallies>;
  readonly cacheTallies: (cache: string) => CacheTallies;
  /** By policy, then field. */
  readonly plaintextReads: Tally;
  /** By operation, then field. */
  readonly values: Tally;
}

/** The attributes naming a KEK: its provider, and its key reference unless turned off. */
export function kekAttributes(
  choices: AttributeChoices,
  providerId: string,
  keyRef: string | undefined,
): Attributes {
  return choices.keyRef && keyRef !== undefined
    ? { [A.provider]: providerId, [A.keyRef]: keyRef }
    : { [A.provider]: providerId };
}

/** `{ [cmek.field]: field }` when there is a field and field attributes are on; else `{}`. */
export function fieldAttribute(choices: AttributeChoices, field: string | undefined): Attributes {
  return choices.field && field !== undefined && field !== '' ? { [A.field]: field } : {};
}

export function createInstruments(meter: Meter, choices: AttributeChoices): Instruments {
  const counter = (m: { name: string; unit: string; description: string }) =>
    meter.createCounter(m.name, { unit: m.unit, description: m.description });
  const lookups = new Map<string, CacheTallies>();
  const tallyFor = (cache: string, result: 'hit' | 'miss') =>
    new Tally((providerId, keyRef) => ({
      [A.cache]: cache,
      [A.cacheResult]: result,
      ...kekAttributes(choices, providerId, keyRef),
    }));
  const cacheTallies = (cache: string): CacheTallies => {
    let tallies = lookups.get(cache);
    if (tallies === undefined) {
      tallies = { hit: tallyFor(cache, 'hit'), miss: tallyFor(cache, 'miss') };
      lookups.set(cache, tallies);
    }
    return tallies;
  };
  const plaintextReads = new Tally((policy, field) => ({
    [A.policy]: policy,
    ...fieldAttribute(choices, field),
  }));
  const values = new Tally((operation, field) => ({
    [A.valueOperation]: operation,
    ...fieldAttribute(choices, field),
  }));
  return {
    kekCalls: counter(M.kekCalls),
    kekDuration: meter.createHistogram(M.kekCallDuration.name, {
      unit: M.kekCallDuration.unit,
      description: M.kekCallDuration.description,
      advice: { explicitBucketBoundaries: KEK_DURATION_BUCKETS },
    }),
    kekDeks: counter(M.kekDeks),
    decryptFailures: counter(M.decryptFailures),
    evictions: counter(M.cacheEvictions),
    staleUses: counter(M.cacheStaleServed),
    engineRows: counter(M.engineRows),
    engineWrites: counter(M.engineWrites),
    lookups,
    cacheTallies,
    plaintextReads,
    values,
  };
}
