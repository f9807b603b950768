/**
 * The one error hierarchy of cmek. Every error has a stable `code`; `isInstance` works across
 * copies of this package (ESM and CJS, or two versions) through a `Symbol.for` marker.
 *
 * No message built here or by a provider may contain a plaintext, a key or a whole token.
 */

const MARKER = Symbol.for('cmek.error');

export type CmekErrorCode =
  | 'CMEK_FORMAT'
  | 'CMEK_DECRYPTION'
  | 'CMEK_KEK_UNAVAILABLE'
  | 'CMEK_KEK_ACCESS_DENIED'
  | 'CMEK_UNKNOWN_KEK'
  | 'CMEK_KEY_FILE'
  | 'CMEK_CONFIG'
  | 'CMEK_INVALID_INPUT'
  | 'CMEK_PLAINTEXT_REJECTED'
  | 'CMEK_QUERY'
  | 'CMEK_PROVIDER'
  | 'CMEK_CLOSED'
  | 'CMEK_UNKNOWN_TENANT'
  | 'CMEK_TENANT_KEY_REVOKED';

export interface CmekErrorOptions {
  cause?: unknown;
}

export class CmekError extends Error {
  /** The stable code of the failure kind; never changes between releases. */
  readonly code: CmekErrorCode;
  /** True when the same call may succeed if tried again later. */
  readonly retryable: boolean;
  declare readonly [MARKER]: true;

  constructor(code: CmekErrorCode, message: string, options: CmekErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.retryable = code === 'CMEK_KEK_UNAVAILABLE';
    Object.defineProperty(this, MARKER, { value: true });
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false });
  }

  /**
   * `true` for any cmek error, including one thrown by another copy of this package. On a
   * subclass it also checks the code: `CmekDecryptionError.isInstance(e)`.
   */
  static isInstance(value: unknown): value is CmekError {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
    const code = (this as { readonly code?: CmekErrorCode }).code;
    return code === undefined || (value as CmekError).code === code;
  }
}

/** The token is malformed: not base64url, a length out of range, an unsupported version. */
export class CmekFormatError extends CmekError {
  static readonly code = 'CMEK_FORMAT';
  constructor(message: string, options?: CmekErrorOptions) {
    super(CmekFormatError.code, message, options);
  }
}

/**
 * The value cannot be decrypted: it was tampered with, it is opened with the wrong KEK, or under
 * a different encryption context. Deliberately one error: which of these it was is not revealed.
 */
export class CmekDecryptionError extends CmekError {
  static readonly code = 'CMEK_DECRYPTION';
  constructor(
    message = 'the value cannot be decrypted: it was altered, or the key or the context is not the one it was written with',
    options?: CmekErrorOptions,
  ) {
    super(CmekDecryptionError.code, message, options);
  }
}

/** The KEK service cannot be reached or is overloaded. Retryable; the original error is the `cause`. */
export class CmekKekUnavailableError extends CmekError {
  static readonly code = 'CMEK_KEK_UNAVAILABLE';
  constructor(message: string, options?: CmekErrorOptions) {
    super(CmekKekUnavailableError.code, message, options);
  }
}

/** The KEK service refused the call: missing permission, disabled key, key pending deletion. */
export class CmekKekAccessDeniedError extends CmekError {
  static readonly code = 'CMEK_KEK_ACCESS_DENIED';
  constructor(message: string, options?: CmekErrorOptions) {
    super(CmekKekAccessDeniedError.code, message, options);
  }
}

/** The token names a KEK (provider id and key reference) that the keyring does not hold. */
export class CmekUnknownKekError extends CmekError {
  static readonly code = 'CMEK_UNKNOWN_KEK';
  readonly providerId: string;
  readonly keyRef: string;
  constructor(providerId: string, keyRef: string, message?: string, options?: CmekErrorOptions) {
    super(
      CmekUnknownKekError.code,
      message ??
        `no KEK for provider '${providerId}' with key reference '${keyRef}' in the keyring; add it to decryptOnly to read this value`,
      options,
    );
    this.providerId = providerId;
    this.keyRef = keyRef;
  }
}

/** A local key file is missing, unreadable, of the wrong size, or too widely accessible. */
export class CmekKeyFileError extends CmekError {
  static readonly code = 'CMEK_KEY_FILE';
  readonly path: string;
  constructor(path: string, message: string, options?: CmekErrorOptions) {
    super(CmekKeyFileError.code, message, options);
    this.path = path;
  }
}

/** Options passed to a cmek factory are invalid. */
export class CmekConfigError extends CmekError {
  static readonly code = 'CMEK_CONFIG';
  constructor(message: string, options?: CmekErrorOptions) {
    super(CmekConfigError.code, message, options);
  }
}

/** An argument passed to a cmek function is of the wrong type or out of range. */
export class CmekInvalidInputError extends CmekError {
  static readonly code = 'CMEK_INVALID_INPUT';
  constructor(message: string, options?: CmekErrorOptions) {
    super(CmekInvalidInputError.code, message, options);
  }
}

/** A legacy plaintext value was read while the plaintext policy is `reject`. */
export class CmekPlaintextRejectedError extends CmekError {
  static readonly code = 'CMEK_PLAINTEXT_REJECTED';
  readonly field: string | undefined;
  constructor(message: string, field?: string, options?: CmekErrorOptions) {
    super(CmekPlaintextRejectedError.code, message, options);
    this.field = field;
  }
}

/** A query the database cannot answer on ciphertext (a filter, sort or `$inc` on an encrypted field). */
export class CmekQueryError extends CmekError {
  static readonly code = 'CMEK_QUERY';
  readonly field: string;
  constructor(field: string, message: string, options?: CmekErrorOptions) {
    super(CmekQueryError.code, message, options);
    this.field = field;
  }
}

/** A KEK provider broke its contract (a DEK of the wrong size, empty wrapped bytes, an unexpected throw). */
export class CmekProviderError extends CmekError {
  static readonly code = 'CMEK_PROVIDER';
  readonly providerId: string;
  constructor(providerId: string, message: string, options?: CmekErrorOptions) {
    super(CmekProviderError.code, message, options);
    this.providerId = providerId;
  }
}

/** The envelope or provider was closed. */
export class CmekClosedError extends CmekError {
  static readonly code = 'CMEK_CLOSED';
  constructor(message = 'this cmek envelope has been closed', options?: CmekErrorOptions) {
    super(CmekClosedError.code, message, options);
  }
}

/**
 * A tenant envelope was given a context without a tenant id, or a tenant its resolver does not
 * know: the value is refused, never encrypted (or read) under the default KEK by accident.
 */
export class CmekUnknownTenantError extends CmekError {
  static readonly code = 'CMEK_UNKNOWN_TENANT';
  /** The tenant id the context named; `undefined` when it named none. */
  readonly tenant: string | undefined;
  constructor(tenant: string | undefined, message?: string, options?: CmekErrorOptions) {
    super(
      CmekUnknownTenantError.code,
      message ??
        (tenant === undefined
          ? 'the encryption context names no tenant: a tenant envelope refuses it'
          : `no KEK for tenant '${tenant}': the tenant resolver does not know it`),
      options,
    );
    this.tenant = tenant;
  }
}

/**
 * The KEK of one tenant refused access (a disabled key, a revoked grant or key policy, a key
 * pending deletion): that tenant's values cannot be read or written; other tenants are not
 * affected. The provider's `CmekKekAccessDeniedError` is the `cause`.
 */
export class CmekTenantKeyRevokedError extends CmekError {
  static readonly code = 'CMEK_TENANT_KEY_REVOKED';
  readonly tenant: string;
  constructor(tenant: string, message?: string, options?: CmekErrorOptions) {
    super(
      CmekTenantKeyRevokedError.code,
      message ??
        `the KEK of tenant '${tenant}' refused access (disabled key or revoked grant): its values cannot be read or written`,
      options,
    );
    this.tenant = tenant;
  }
}
