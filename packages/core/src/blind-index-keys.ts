/**
 * Index keys and the indexer. An index key is 32 random bytes that only ever key blind indexes:
 * it is the fresh key of a provider's `generateDataKey` (a CSPRNG or KMS-made key, wrapped by the
 * KEK), never used as a DEK, kept by the application as `cmek:bik1:<key id>:<b64url(record)>`
 * (the record of SPEC §2: provider id, key reference, wrapped key). `loadBlindIndexes` unwraps
 * each key once (one KEK call) and returns an indexer whose `compute` is synchronous.
 */
import { decodeB64url, encodeB64url } from './base64url';
import {
  type BlindIndexMode,
  type BlindIndexNormalizer,
  checkSlowCost,
  DEFAULT_SLOW_COST,
  deriveFieldKey,
  formatBlindIndex,
  hmacDigest,
  INDEX_KEY_LENGTH,
  indexKeyId,
  isKeyId,
  messageOf,
  modeTag,
  normalizerOf,
  slowDigest,
  slowDigestSync,
} from './blind-index';
import { isWellFormed } from './context';
import { emitterOf } from './emitter';
import {
  CmekClosedError,
  CmekConfigError,
  CmekDecryptionError,
  CmekFormatError,
  CmekInvalidInputError,
} from './errors';
import type { CmekEventListener } from './events';
import { generateDataKey, unwrap } from './kek-calls';
import { createKeyring, isKeyring, type Keyring } from './keyring';
import type { KekProvider } from './provider';
import { decodeRecord, encodeRecord } from './record';

/** The prefix of a stored (wrapped) index key. */
export const INDEX_KEY_PREFIX = 'cmek:bik1:';

/** How one field's index is computed: the same options at every write and every lookup. */
export interface BlindIndexComputeOptions {
  /**
   * Applied, in order, to a string before hashing: a built-in (`trim`, `lowercase`, `nfc`,
   * `nfkc`) or a function. Changing it changes every index value: re-index the field.
   */
  readonly normalize?: BlindIndexNormalizer | readonly BlindIndexNormalizer[];
  /** Default `hmac`. `slow` adds scrypt (cost `slowCost`): for low-entropy values. */
  readonly mode?: BlindIndexMode;
  /** The key id to compute with. Default: the indexer's current key (the first loaded). */
  readonly key?: string;
}

export interface BlindIndexer {
  /** The ids of the loaded index keys, the current one first. Not secret. */
  readonly keyIds: readonly string[];
  /** The key `compute` uses unless told otherwise: the first of `keys`. */
  readonly currentKeyId: string;
  /** The scrypt cost (log2 N) of slow mode. */
  readonly slowCost: number;
  /**
   * The blind index of `plaintext` for the field labelled `field` (an adapter passes its context's
   * `field` value, e.g. `users.email`). Synchronous: slow mode blocks the thread for its scrypt
   * (tens of milliseconds); prefer `computeAsync` outside a synchronous query builder.
   */
  compute(
    field: string,
    plaintext: string | Uint8Array,
    options?: BlindIndexComputeOptions,
  ): string;
  /** As `compute`; slow mode runs scrypt on libuv's thread pool. */
  computeAsync(
    field: string,
    plaintext: string | Uint8Array,
    options?: BlindIndexComputeOptions,
  ): Promise<string>;
  /**
   * The index of `plaintext` under every loaded key, current first (`options.key` is ignored):
   * what a lookup matches during a rotation of the index key inside one column.
   */
  candidates(
    field: string,
    plaintext: string | Uint8Array,
    options?: BlindIndexComputeOptions,
  ): string[];
  /** Zeroes the index keys and the derived field keys; further calls throw `CmekClosedError`. */
  close(): void;
}

export interface CreateBlindIndexKeyOptions {
  /** Receives the `kek-call` event of the one `generateDataKey` call. */
  onEvent?: CmekEventListener;
}

export interface LoadBlindIndexesOptions {
  /** Stored index keys (`cmek:bik1:…`): the current one first, then at most one more (the next or the previous). */
  keys: readonly string[];
  /** The provider or keyring that can unwrap them (routed by each key's provider id and key reference). */
  kek: KekProvider | Keyring;
  /** scrypt cost of slow mode, log2 of N, 10..20. Default 14 (N = 16384, r = 8, p = 1: 16 MiB). */
  slowCost?: number;
  /** Receives one `kek-call` event per key unwrapped. */
  onEvent?: CmekEventListener;
}

/** Field keys kept per indexer before the cache is emptied (each one is 32 bytes). */
const MAX_FIELD_KEYS = 4096;
const MAX_KEYS = 2;

function keyringOf(kek: KekProvider | Keyring): Keyring {
  return isKeyring(kek) ? kek : createKeyring({ primary: kek });
}

/**
 * A new index key, wrapped by the primary KEK of `kek`: one `generateDataKey` call. Returns the
 * storable form, `cmek:bik1:<key id>:<b64url(record)>`, for the application's configuration; the
 * key itself is zeroed before this returns.
 */
export async function createBlindIndexKey(
  kek: KekProvider | Keyring,
  options: CreateBlindIndexKeyOptions = {},
): Promise<string> {
  const provider = keyringOf(kek).primary;
  const { dek, wrapped } = await generateDataKey({ emit: emitterOf(options.onEvent) }, provider);
  try {
    const record = encodeRecord(provider.providerId, provider.keyRef, wrapped);
    return `${INDEX_KEY_PREFIX}${indexKeyId(dek)}:${encodeB64url(record)}`;
  } finally {
    dek.fill(0);
  }
}

interface ParsedKey {
  readonly keyId: string;
  readonly providerId: string;
  readonly keyRef: string;
  readonly wrapped: Buffer;
}

/** The parts of a stored index key; `CmekFormatError` when it is not one (no part of it in the message). */
export function parseBlindIndexKey(stored: string): ParsedKey {
  if (typeof stored !== 'string' || !stored.startsWith(INDEX_KEY_PREFIX)) {
    throw new CmekFormatError(`a stored index key starts with ${INDEX_KEY_PREFIX}`);
  }
  const rest = stored.slice(INDEX_KEY_PREFIX.length);
  const colon = rest.indexOf(':');
  const keyId = rest.slice(0, colon);
  if (colon < 0 || !isKeyId(keyId)) {
    throw new CmekFormatError('a stored index key has no 16-hex-character key id');
  }
  const record = decodeRecord(decodeB64url(rest.slice(colon + 1), 'the index key record'));
  return { keyId, ...record, wrapped: Buffer.from(record.wrapped) };
}

function checkLabel(field: unknown): string {
  if (typeof field !== 'string' || field.length === 0 || !isWellFormed(field)) {
    throw new CmekInvalidInputError('a blind index needs a non-empty, well-formed field label');
  }
  return field;
}

/**
 * Unwraps each stored index key once (one KEK call each, reported as a `kek-call` event) and
 * returns the indexer. A key whose unwrapped bytes do not give its key id is refused with
 * `CmekDecryptionError` (a wrong KEK or a damaged record); two keys with one id, or more than
 * two keys, with `CmekConfigError`.
 */
export async function loadBlindIndexes(options: LoadBlindIndexesOptions): Promise<BlindIndexer> {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.keys)) {
    throw new CmekConfigError('loadBlindIndexes needs { keys: [stored index keys], kek }');
  }
  if (options.keys.length < 1 || options.keys.length > MAX_KEYS) {
    throw new CmekConfigError(
      'loadBlindIndexes takes one index key, or two during a rotation (current first)',
    );
  }
  const slowCost =
    options.slowCost === undefined
      ? DEFAULT_SLOW_COST
      : checkSlowCost(options.slowCost, 'slowCost');
  const keyring = keyringOf(options.kek);
  const kek = { emit: emitterOf(options.onEvent) };
  const parsed = options.keys.map(parseBlindIndexKey);
  if (new Set(parsed.map((p) => p.keyId)).size !== parsed.length) {
    throw new CmekConfigError('loadBlindIndexes was given the same index key twice');
  }
  const keys = new Map<string, Buffer>();
  try {
    for (const p of parsed) {
      const provider = keyring.resolve(p.providerId, p.keyRef);
      const key = await unwrap(kek, provider, { wrapped: p.wrapped, keyRef: p.keyRef });
      keys.set(p.keyId, key);
      if (key.length !== INDEX_KEY_LENGTH || indexKeyId(key) !== p.keyId) {
        throw new CmekDecryptionError(
          `the index key ${p.keyId} unwrapped to bytes of another key id: a wrong KEK or a damaged key`,
        );
      }
    }
  } catch (error) {
    for (const key of keys.values()) key.fill(0);
    throw error;
  }
  return makeIndexer(keys, slowCost);
}

interface IndexerState {
  readonly keys: Map<string, Buffer>;
  readonly fieldKeys: Map<string, Buffer>;
  closed: boolean;
}

function zero(state: IndexerState): void {
  state.closed = true;
  for (const key of state.fieldKeys.values()) key.fill(0);
  for (const key of state.keys.values()) key.fill(0);
  state.fieldKeys.clear();
  state.keys.clear();
}

// An indexer dropped without close() still has its keys zeroed when it is collected.
const dropped = new FinalizationRegistry<IndexerState>(zero);

function makeIndexer(keys: Map<string, Buffer>, slowCost: number): BlindIndexer {
  const state: IndexerState = { keys, fieldKeys: new Map(), closed: false };
  const keyIds = Object.freeze([...keys.keys()]);
  const currentKeyId = keyIds[0]!;

  const prepare = (
    field: string,
    plaintext: string | Uint8Array,
    options: BlindIndexComputeOptions | undefined,
    keyId: string,
  ) => {
    if (state.closed) throw new CmekClosedError('this blind indexer has been closed');
    const label = checkLabel(field);
    const mode = options?.mode ?? 'hmac';
    if (mode !== 'hmac' && mode !== 'slow') {
      throw new CmekConfigError("a blind index mode is 'hmac' or 'slow'");
    }
    const tag = modeTag(mode, slowCost);
    const cacheKey = `${keyId}\u0000${tag}\u0000${label}`;
    let fieldKey = state.fieldKeys.get(cacheKey);
    if (fieldKey === undefined) {
      const key = state.keys.get(keyId);
      if (key === undefined) {
        throw new CmekConfigError(`the index key ${keyId} is not loaded in this indexer`);
      }
      if (state.fieldKeys.size >= MAX_FIELD_KEYS) {
        for (const k of state.fieldKeys.values()) k.fill(0);
        state.fieldKeys.clear();
      }
      fieldKey = deriveFieldKey(key, tag, label);
      state.fieldKeys.set(cacheKey, fieldKey);
    }
    const message = messageOf(
      plaintext,
      normalizerOf(options?.normalize, `the normalize option of ${label}`),
      label,
    );
    return { mode, tag, fieldKey, message };
  };

  const keyOf = (options: BlindIndexComputeOptions | undefined): string =>
    options?.key ?? currentKeyId;

  const computeWith = (
    field: string,
    plaintext: string | Uint8Array,
    options: BlindIndexComputeOptions | undefined,
    keyId: string,
  ): string => {
    const { mode, tag, fieldKey, message } = prepare(field, plaintext, options, keyId);
    const digest =
      mode === 'hmac' ? hmacDigest(fieldKey, message) : slowDigestSync(fieldKey, message, slowCost);
    return formatBlindIndex(tag, keyId, digest);
  };

  const indexer: BlindIndexer = {
    keyIds,
    currentKeyId,
    slowCost,
    compute: (field, plaintext, options) => computeWith(field, plaintext, options, keyOf(options)),
    async computeAsync(field, plaintext, options) {
      const keyId = keyOf(options);
      const { mode, tag, fieldKey, message } = prepare(field, plaintext, options, keyId);
      const digest =
        mode === 'hmac'
          ? hmacDigest(fieldKey, message)
          : await slowDigest(fieldKey, message, slowCost);
      return formatBlindIndex(tag, keyId, digest);
    },
    candidates: (field, plaintext, options) =>
      keyIds.map((keyId) => computeWith(field, plaintext, options, keyId)),
    close() {
      if (state.closed) return;
      dropped.unregister(indexer);
      zero(state);
    },
  };
  dropped.register(indexer, state, indexer);
  return Object.freeze(indexer);
}
