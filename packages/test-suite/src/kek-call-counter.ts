/**
 * `kekCallCounter()`: counts the `kek-call` events an envelope reports, so a test can assert how
 * many KEK calls an operation cost without wrapping its provider.
 */
import {
  CmekConfigError,
  type CmekEvent,
  type CmekEventListener,
  type KekCallEvent,
  type KekOperation,
} from '@cmek/core';

export interface KekCallCounterOptions {
  /** Count only the calls to this provider (`event.providerId`). Default: every provider. */
  readonly providerId?: string;
  /** Count only the calls under this key reference (`event.keyRef`). Default: every keyRef. */
  readonly keyRef?: string;
  /** Another listener that receives every event (counted or not), after it is counted. */
  readonly onEvent?: CmekEventListener;
}

/** The counted `kek-call` events: one number per operation, and totals. */
export interface KekCallCounts {
  readonly generateDataKey: number;
  readonly unwrap: number;
  readonly unwrapMany: number;
  readonly rewrap: number;
  readonly wrap: number;
  /** `envelope.health()` probes. */
  readonly health: number;
  /** Every counted call, failed ones included. */
  readonly total: number;
  /** The counted calls that failed (`ok: false`). */
  readonly failed: number;
  /** The DEKs the counted `unwrap` and `unwrapMany` calls handled (the sum of their `count`). */
  readonly unwrappedDeks: number;
}

export interface KekCallCounter {
  /** The listener to pass as `createEnvelope({ onEvent })`. */
  readonly onEvent: CmekEventListener;
  /** A snapshot of the counts (each read gives a new object). */
  readonly counts: KekCallCounts;
  /** The counted events, oldest first (a copy). */
  readonly events: readonly KekCallEvent[];
  /** Forgets every counted event. */
  reset(): void;
}

const OPERATIONS: readonly KekOperation[] = [
  'generateDataKey',
  'unwrap',
  'unwrapMany',
  'rewrap',
  'wrap',
  'health',
];

/**
 * Counts the core's `kek-call` events.
 *
 * ```ts
 * const counter = kekCallCounter();
 * const envelope = createEnvelope({ kek, onEvent: counter.onEvent });
 * await envelope.decryptMany(tokens);
 * counter.counts.unwrapMany; // 1
 * ```
 */
export function kekCallCounter(options: KekCallCounterOptions = {}): KekCallCounter {
  const forward = options.onEvent;
  if (forward !== undefined && typeof forward !== 'function') {
    throw new CmekConfigError('kekCallCounter: onEvent must be a function');
  }
  let events: KekCallEvent[] = [];
  const onEvent = (event: CmekEvent): void => {
    if (
      event.type === 'kek-call' &&
      (options.providerId === undefined || event.providerId === options.providerId) &&
      (options.keyRef === undefined || event.keyRef === options.keyRef)
    ) {
      events.push(event);
    }
    forward?.(event);
  };
  return {
    onEvent,
    get counts(): KekCallCounts {
      const per = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<
        KekOperation,
        number
      >;
      let failed = 0;
      let unwrappedDeks = 0;
      for (const event of events) {
        per[event.operation]++;
        if (!event.ok) failed++;
        if (event.operation === 'unwrap' || event.operation === 'unwrapMany') {
          unwrappedDeks += event.count;
        }
      }
      return { ...per, total: events.length, failed, unwrappedDeks };
    },
    get events(): readonly KekCallEvent[] {
      return [...events];
    },
    reset() {
      events = [];
    },
  };
}
