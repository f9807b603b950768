/**
 * The decrypt side of the envelope: opens a batch under one context. A token whose DEK is cached
 * is opened synchronously: its kek part is looked up as text (the entry holds the decoded record),
 * its value key comes from the value-key cache (or one HKDF, then cached), and nothing is copied.
 * Only uncached DEKs go through the async unwrap. Every token is classified and parsed before any
 * is opened, so a format error comes first.
 */
import type { CanonicalContext } from './context';
import type { PlaintextPolicy } from './envelope-types';
import { CmekError, CmekInvalidInputError, CmekPlaintextRejectedError } from './errors';
import { deriveValueKey, type FernetKey, fernetKey, openFernetWith } from './fernet';
import type { Emit } from './kek-calls';
import type { ReadDekCache, ReadEntry } from './read-dek-cache';
import type { DekRecord } from './record';
import { decodeSalt, type ParsedToken, parseToken, TOKEN_PREFIX } from './token';
import { isTokenLike } from './token-shape';

export interface DecryptBatch {
  readonly cache: ReadDekCache;
  readonly canon: CanonicalContext;
  readonly policy: PlaintextPolicy;
  readonly maxAgeMs: number | undefined;
  /** The context's `field`, for events and the plaintext error. */
  readonly field: string | undefined;
  readonly emit: Emit;
  readonly ensureOpen: () => void;
}

/** Reports a `decrypt-failed` event (for a cmek error) and throws the error. */
function fail(batch: DecryptBatch, error: unknown, record?: DekRecord): never {
  if (CmekError.isInstance(error)) {
    const { field } = batch;
    batch.emit({
      type: 'decrypt-failed',
      errorCode: error.code,
      ...(record ? { providerId: record.providerId, keyRef: record.keyRef } : {}),
      ...(field === undefined ? {} : { field }),
    });
  }
  throw error;
}

interface Hit {
  readonly index: number;
  readonly entry: ReadEntry;
  readonly saltText: string;
  /** The cached value key, or the decoded salt to derive it from. */
  readonly vk: FernetKey | undefined;
  readonly salt: Buffer | undefined;
  readonly token: string;
  readonly fernet: string;
}

type Plaintexts = (Buffer | null)[];

export function decryptBatch(
  tokens: readonly (string | null | undefined)[],
  batch: DecryptBatch,
): Plaintexts | Promise<Plaintexts> {
  const { cache } = batch;
  const out: Plaintexts = tokens.map(() => null);
  const hits: Hit[] = [];
  const misses: [number, ParsedToken][] = [];
  let records: Map<string, DekRecord> | undefined;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    if (token === null || token === undefined) continue;
    if (typeof token !== 'string') {
      throw new CmekInvalidInputError(`only strings can be decrypted, not ${typeof token}`);
    }
    if (!token.startsWith(TOKEN_PREFIX)) {
      if (isTokenLike(token)) parseOrFail(token, batch);
      out[index] = plaintext(token, batch);
      continue;
    }
    const hit = cachedHit(token, index, batch);
    if (hit !== undefined) {
      hits.push(hit);
      continue;
    }
    records ??= new Map();
    const parsed = parseOrFail(token, batch, records);
    misses.push([index, parsed]);
    records.set(parsed.kekText, parsed.record);
  }
  // One DEK hit per distinct cached DEK of the call, counted (and reported if anyone listens).
  if (hits.length === 1) cache.reportHit(hits[0]!.entry.record);
  else if (hits.length > 1) {
    const seen = new Set<ReadEntry>();
    for (const { entry } of hits) {
      if (!seen.has(entry)) cache.reportHit(entry.record);
      seen.add(entry);
    }
  }
  if (hits.length > 0) openHits(hits, out, batch);
  if (records === undefined) return out;
  return openMisses(misses, records, out, batch);
}

/** The parts of a `cmek:v1:` token whose DEK is cached, or `undefined` (parse it in full). */
function cachedHit(token: string, index: number, batch: DecryptBatch): Hit | undefined {
  const first = token.indexOf('|', TOKEN_PREFIX.length);
  if (first < 0) return undefined;
  // A third '|' (a fourth part) is looked for only if the Fernet part fails: a part holding one
  // never decodes, so a token that opens has none, and one that does not gets its format error.
  const second = token.indexOf('|', first + 1);
  if (second < 0) return undefined;
  const entry = batch.cache.hitIn(token, TOKEN_PREFIX.length, first);
  if (entry === undefined) return undefined;
  const saltText = token.slice(first + 1, second);
  const vk = batch.cache.cachedValueKey(entry, saltText, batch.canon);
  let salt: Buffer | undefined;
  if (vk === undefined) {
    try {
      salt = decodeSalt(saltText);
    } catch (error) {
      fail(batch, error);
    }
  }
  return { index, entry, saltText, vk, salt, token, fernet: token.slice(second + 1) };
}

function parseOrFail(
  token: string,
  batch: DecryptBatch,
  records?: ReadonlyMap<string, DekRecord>,
): ParsedToken {
  try {
    return parseToken(token, records);
  } catch (error) {
    return fail(batch, error);
  }
}

/** A legacy plaintext value, as the policy says. */
function plaintext(value: string, batch: DecryptBatch): Buffer {
  const { field, policy } = batch;
  if (policy === 'reject') {
    fail(
      batch,
      new CmekPlaintextRejectedError(
        `a stored value${field ? ` of ${field}` : ''} is not encrypted and the plaintext policy is 'reject'; run the backfill`,
        field,
      ),
    );
  }
  batch.emit({ type: 'plaintext-read', policy, ...(field === undefined ? {} : { field }) });
  return Buffer.from(value, 'utf8');
}

function open(key: FernetKey, fernet: string, record: DekRecord, batch: DecryptBatch): Buffer {
  try {
    return openFernetWith(key, fernet, batch.maxAgeMs).plaintext;
  } catch (error) {
    return fail(batch, error, record);
  }
}

/**
 * Opens a token split on the hit path (`fernet` = the text after its second `|`). A fourth part
 * is a format error, as `parseToken` would say: looked for only when the Fernet part fails.
 */
function openSplit(
  token: string,
  fernet: string,
  key: FernetKey,
  record: DekRecord,
  batch: DecryptBatch,
): Buffer {
  try {
    return openFernetWith(key, fernet, batch.maxAgeMs).plaintext;
  } catch (error) {
    if (fernet.includes('|')) parseOrFail(token, batch);
    return fail(batch, error, record);
  }
}

/**
 * One token whose DEK and value key are cached, with no array, no promise and no allocation
 * beyond the parts; anything else goes through `decryptBatch`.
 */
export function decryptOne(
  token: string | null | undefined,
  batch: DecryptBatch,
): Buffer | null | Promise<Buffer | null> {
  if (typeof token === 'string' && token.startsWith(TOKEN_PREFIX)) {
    const first = token.indexOf('|', TOKEN_PREFIX.length);
    const second = first < 0 ? -1 : token.indexOf('|', first + 1);
    const entry = second < 0 ? undefined : batch.cache.hitIn(token, TOKEN_PREFIX.length, first);
    const key =
      entry === undefined
        ? undefined
        : // A miss is counted by `decryptBatch`, which looks again.
          batch.cache.cachedValueKey(entry, token.slice(first + 1, second), batch.canon, false);
    if (key !== undefined) {
      batch.cache.reportHit(entry!.record);
      return openSplit(token, token.slice(second + 1), key, entry!.record, batch);
    }
  }
  const all = decryptBatch([token], batch);
  return all instanceof Promise ? all.then((opened) => opened[0] ?? null) : (all[0] ?? null);
}

/**
 * Opens the tokens of cached DEKs. Value keys derived here are cached only once the batch is
 * done, so no eviction can zero a key a later token of the batch still holds.
 */
function openHits(hits: readonly Hit[], out: Plaintexts, batch: DecryptBatch): void {
  let derived: Map<string, [ReadEntry, string, FernetKey]> | undefined;
  try {
    for (const hit of hits) {
      let vk = hit.vk;
      if (vk === undefined) {
        derived ??= new Map();
        const key = `${hit.entry.kekText}|${hit.saltText}`;
        vk = derived.get(key)?.[2];
        if (vk === undefined) {
          vk = fernetKey(deriveValueKey(hit.entry.dek, hit.salt!, batch.canon.bytes));
          derived.set(key, [hit.entry, hit.saltText, vk]);
        }
      }
      out[hit.index] = openSplit(hit.token, hit.fernet, vk, hit.entry.record, batch);
    }
  } finally {
    for (const [entry, saltText, key] of derived?.values() ?? []) {
      batch.cache.storeValueKey(entry.kekText, saltText, batch.canon.key, key.vk);
    }
  }
}

async function openMisses(
  misses: readonly [number, ParsedToken][],
  records: ReadonlyMap<string, DekRecord>,
  out: Plaintexts,
  batch: DecryptBatch,
): Promise<Plaintexts> {
  let deks: Map<string, Buffer>;
  try {
    deks = await batch.cache.resolve(records);
  } catch (error) {
    fail(batch, error, records.size === 1 ? records.values().next().value : undefined);
  }
  const derived = new Map<string, [ParsedToken, FernetKey]>();
  try {
    batch.ensureOpen();
    for (const [index, token] of misses) {
      const key = `${token.kekText}|${token.saltText}`;
      let vk = derived.get(key)?.[1];
      if (vk === undefined) {
        vk = fernetKey(deriveValueKey(deks.get(token.kekText)!, token.salt, batch.canon.bytes));
        derived.set(key, [token, vk]);
      }
      out[index] = open(vk, token.fernet, token.record, batch);
    }
  } finally {
    for (const dek of deks.values()) dek.fill(0);
    // Kept beside their DEK when it was cached; zeroed otherwise.
    for (const [token, key] of derived.values()) {
      batch.cache.storeValueKey(token.kekText, token.saltText, batch.canon.key, key.vk);
    }
  }
  return out;
}
