/**
 * The encrypt side of the envelope: seals a batch under one context. Synchronous while the write
 * cache holds a usable DEK (no promise, no copy of the DEK, no HKDF once the context's salt is
 * drawn); it goes async only to wait for a new DEK.
 */
import type { CanonicalContext } from './context';
import { deriveValueKey, SALT_LENGTH, sealFernet, sealFernetWith } from './fernet';
import { randomBytesFromPool } from './random-pool';
import { formatToken } from './token';
import type { Lease, WriteDekCache } from './write-dek-cache';

const IV_LENGTH = 16;

export interface EncryptBatch {
  readonly cache: WriteDekCache;
  readonly canon: CanonicalContext;
  /** One plaintext per slot; `null` stays `null`. */
  readonly plaintexts: readonly (Buffer | null)[];
  /** The revision-1 writer: a salt (and an HKDF) per value. */
  readonly saltPerValue: boolean;
  /** Throws `CmekClosedError` once the envelope is closed. */
  readonly ensureOpen: () => void;
}

type Tokens = (string | null)[];

/** The tokens of a batch, synchronously when every value finds a cached DEK. */
export function encryptBatch(batch: EncryptBatch): Tokens | Promise<Tokens> {
  const out: Tokens = batch.plaintexts.map(() => null);
  const todo: number[] = [];
  batch.plaintexts.forEach((p, i) => {
    if (p !== null) todo.push(i);
  });
  let next = 0;
  while (next < todo.length) {
    const lease = batch.cache.tryLease(todo.length - next);
    if (lease === undefined) return finish(batch, out, todo, next);
    next = seal(batch, lease, out, todo, next);
  }
  return out;
}

async function finish(batch: EncryptBatch, out: Tokens, todo: number[], from: number) {
  let next = from;
  while (next < todo.length) {
    const lease =
      batch.cache.tryLease(todo.length - next) ?? (await batch.cache.acquire(todo.length - next));
    if (lease === undefined) continue;
    try {
      batch.ensureOpen();
      next = seal(batch, lease, out, todo, next);
    } finally {
      batch.cache.release(lease);
    }
  }
  return out;
}

/** Seals up to `lease.uses` values from `todo[next]` on; returns the next index to seal. */
function seal(batch: EncryptBatch, lease: Lease, out: Tokens, todo: number[], next: number) {
  const { entry } = lease;
  const now = Math.floor(Date.now() / 1000);
  const end = Math.min(todo.length, next + lease.uses);
  if (batch.saltPerValue) {
    for (let n = next; n < end; n++) {
      const index = todo[n]!;
      const random = randomBytesFromPool(SALT_LENGTH + IV_LENGTH);
      const salt = random.subarray(0, SALT_LENGTH);
      const vk = deriveValueKey(entry.dek, salt, batch.canon.bytes);
      const iv = random.subarray(SALT_LENGTH);
      out[index] = formatToken(
        entry.kekText,
        salt,
        sealFernet(vk, batch.plaintexts[index]!, iv, now),
      );
      vk.fill(0);
    }
    return end;
  }
  const key = batch.cache.keyFor(entry, batch.canon);
  for (let n = next; n < end; n++) {
    const index = todo[n]!;
    const iv = randomBytesFromPool(IV_LENGTH);
    out[index] = key.head + sealFernetWith(key, batch.plaintexts[index]!, iv, now);
  }
  return end;
}
