/**
 * Counts kept as plain numbers between two collections and reported by an observable counter:
 * an event on the hot path (a cache hit per value) costs two `Map` lookups and an increment, not
 * an attribute-set hash in the SDK. The attribute objects are built once per series.
 */
import type { Attributes, ObservableResult } from '@opentelemetry/api';

interface Series {
  value: number;
  readonly attributes: Attributes;
}

/** Monotonic sums by two string keys (e.g. provider and key reference, or policy and field). */
export class Tally {
  private readonly series = new Map<string, Map<string, Series>>();

  constructor(private readonly attributesOf: (a: string, b: string) => Attributes) {}

  add(a: string, b: string, n = 1): void {
    let inner = this.series.get(a);
    if (inner === undefined) {
      inner = new Map();
      this.series.set(a, inner);
    }
    const entry = inner.get(b);
    if (entry === undefined) inner.set(b, { value: n, attributes: this.attributesOf(a, b) });
    else entry.value += n;
  }

  observe(result: ObservableResult): void {
    for (const inner of this.series.values()) {
      for (const entry of inner.values()) result.observe(entry.value, entry.attributes);
    }
  }
}
