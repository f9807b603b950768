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

/** The timings of one phase (insert, select...) over the runs, in milliseconds. */
export interface PhaseSamples {
  /** The plain ORM. */
  readonly plain: number[];
  /** The ORM with the cmek adapter. */
  readonly encrypted: number[];
  /** The core's encryptMany / decryptMany alone on the same values. */
  readonly core: number[];
  /** The plain ORM moving ciphertext-sized values (the cost of longer values alone). */
  readonly ciphertext: number[];
}

/** Prints one JSON line for a phase (medians, ratio, what the adapter itself adds); returns the medians. */
export function reportPhase(
  bench: string,
  phase: string,
  sizes: Record<string, number>,
  samples: PhaseSamples,
): { plain: number; encrypted: number } {
  const plain = median(samples.plain);
  const encrypted = median(samples.encrypted);
  const core = median(samples.core);
  const ciphertext = median(samples.ciphertext);
  const ms = (n: number): number => Number(n.toFixed(1));
  console.log(
    JSON.stringify({
      bench,
      phase,
      ...sizes,
      plainMs: ms(plain),
      encryptedMs: ms(encrypted),
      ratio: Number((encrypted / plain).toFixed(2)),
      coreCryptoMs: ms(core),
      plainOnCiphertextMs: ms(ciphertext),
      adapterOverheadMs: ms(encrypted - ciphertext - core),
    }),
  );
  return { plain, encrypted };
}
