import type { EnvelopeStats } from './cache-events';
import type { CmekEventListener } from './events';
import type { HealthOptions, HealthReport } from './health';
import type { KekCallHook } from './kek-call-hook';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';

/** A map of string to string bound to a value: it decrypts only under the same context. */
export type EncryptionContext = Readonly<Record<string, string>>;

/** What to do with a stored value that is not a cmek token (a row written before encryption). */
export type PlaintextPolicy = 'allow' | 'warn' | 'reject';

export interface DekCacheOptions {
  /** Values one DEK encrypts before a new one is generated. Default 10,000. */
  maxUses?: number;
  /** Age after which a DEK is no longer used for new values. Default 10 minutes. */
  maxAgeMs?: number;
  /**
   * Contexts (fields) a cached DEK keeps a salt and value key for; beyond it the least recently
   * added one is zeroed and the field gets a new salt on its next value. Default 256.
   */
  maxContexts?: number;
  /**
   * `true`: a new salt, and so a new HKDF, for every value (the revision-1 behaviour). Default
   * `false`: one salt per (DEK, context), drawn when the DEK is first used for that context.
   */
  saltPerValue?: boolean;
  /**
   * How long past `maxAgeMs` a cached DEK may still be used, only while the KEK answers
   * `CMEK_KEK_UNAVAILABLE` (never after an access-denied answer, which drops the key reference's
   * DEKs): each such use emits `stale-dek-used`. A new DEK is asked for first every time. Default
   * 0 (off). See the observability guide, "A bounded grace".
   */
  staleGraceMs?: number;
}

export interface DecryptCacheOptions {
  /** Unwrapped DEKs kept (least recently used evicted first). Default 1,000. */
  maxEntries?: number;
  /** Age after which a DEK is unwrapped again. Default 10 minutes. */
  maxAgeMs?: number;
  /**
   * How long past `maxAgeMs` a cached DEK may still be used, only while the KEK answers
   * `CMEK_KEK_UNAVAILABLE` (never after an access-denied answer, which drops the key reference's
   * DEKs): each such use emits `stale-dek-used`. A new DEK is asked for first every time. Default
   * 0 (off). See the observability guide, "A bounded grace".
   */
  staleGraceMs?: number;
}

export interface EnvelopeOptions {
  /** One provider, or a keyring (a primary for writes plus decrypt-only KEKs). */
  kek: KekProvider | Keyring;
  /** Write-side DEK reuse; `false` generates a DEK per value (one KEK call per encrypt). */
  dekCache?: DekCacheOptions | false;
  /**
   * Read-side LRU of unwrapped DEKs, and beside it an LRU of derived value keys (by kek part,
   * salt and context) under the same limits; `false` unwraps on every decrypt.
   */
  decryptCache?: DecryptCacheOptions | false;
  /** Default `allow`. */
  plaintextPolicy?: PlaintextPolicy;
  /** Reject tokens whose Fernet timestamp is older than this. Off by default. */
  maxTokenAgeMs?: number;
  /** Metrics and audit hook; never receives a secret. A throwing listener is ignored. */
  onEvent?: CmekEventListener;
  /**
   * Called around every KEK call (and its `kek-call` event): for tracing spans that are the
   * parent of the provider SDK's own. It must resolve to what `run()` resolves to.
   */
  kekCallHook?: KekCallHook;
}

export interface CryptOptions {
  context?: EncryptionContext;
}

export interface DecryptOptions extends CryptOptions {
  /** Overrides the envelope's plaintext policy for this call. */
  plaintextPolicy?: PlaintextPolicy;
}

export interface TokenInfo {
  readonly version: 'v1';
  readonly providerId: string;
  readonly keyRef: string;
  /** A short non-secret fingerprint of the wrapped DEK: equal for values sharing a DEK. */
  readonly dekId: string;
}

export type Encryptable = string | Uint8Array;

export interface Envelope {
  /** Encrypts a string (as UTF-8) or bytes; `null` and `undefined` pass through. */
  encrypt(value: Encryptable, options?: CryptOptions): Promise<string>;
  encrypt(value: null | undefined, options?: CryptOptions): Promise<null>;
  encrypt(value: Encryptable | null | undefined, options?: CryptOptions): Promise<string | null>;
  /** Decrypts a token to a string; legacy plaintext follows the plaintext policy; `null` passes. */
  decrypt(token: string, options?: DecryptOptions): Promise<string>;
  decrypt(token: null | undefined, options?: DecryptOptions): Promise<null>;
  decrypt(token: string | null | undefined, options?: DecryptOptions): Promise<string | null>;
  /** Decrypts a token to bytes. */
  decryptBytes(token: string, options?: DecryptOptions): Promise<Uint8Array>;
  /** Encrypts a batch under one context; one DEK lookup for the whole batch. */
  encryptMany(
    values: readonly (Encryptable | null | undefined)[],
    options?: CryptOptions,
  ): Promise<(string | null)[]>;
  /** Decrypts a batch under one context; one KEK call per distinct uncached DEK. */
  decryptMany(
    tokens: readonly (string | null | undefined)[],
    options?: DecryptOptions,
  ): Promise<(string | null)[]>;
  /**
   * `true` for a string that is a token, possibly of a future version (it starts with `cmek:`), or
   * a damaged one (see the core README, "What `allow` accepts"): decrypt refuses those with
   * `CmekFormatError`, never returns them as plaintext.
   */
  isEncrypted(value: unknown): value is string;
  /** The routing data of a token, without decrypting it; throws `CmekFormatError` if malformed. */
  inspect(token: string): TokenInfo;
  /** The keyring the envelope writes and reads through. */
  readonly keyring: Keyring;
  /**
   * The caches' sizes and lookup counts since `createEnvelope`, synchronously (no KEK call).
   * Throws `CmekClosedError` after `close()`.
   */
  stats(): EnvelopeStats;
  /**
   * One `generateDataKey` of the primary KEK (its DEK zeroed at once, reported as a `kek-call`
   * event with operation `health`) and the state of the caches: `ok`, `degraded` (the KEK failed
   * but cached DEKs still serve) or `unavailable`. Never throws for a KEK failure; throws
   * `CmekClosedError` after `close()`.
   */
  health(options?: HealthOptions): Promise<HealthReport>;
  /** Zeroes every cached DEK and closes the providers. Further calls throw `CmekClosedError`. */
  close(): Promise<void>;
}
