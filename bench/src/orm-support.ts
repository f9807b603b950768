/** What the encrypted-versus-plain ORM benches share: an in-process KEK, timing and medians. */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { KekProvider } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';

/** A local KEK in memory, so the numbers measure the adapter and the core, not a KMS. */
export function memoryKek(): KekProvider {
  return createLocalKekProviderFromKey(randomBytes(32));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
