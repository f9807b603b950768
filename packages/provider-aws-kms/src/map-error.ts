/**
 * Maps what `@aws-sdk/client-kms` throws onto the cmek error hierarchy. The SDK error is always
 * kept as `cause`; messages name the operation, the key reference and the SDK error's name only
 * (KMS messages can be long and are still reachable through `cause`).
 *
 * This runs after the SDK's own retry strategy has given up: a retryable failure here means the
 * configured attempts are spent.
 */
import {
  CmekConfigError,
  CmekDecryptionError,
  type CmekError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekProviderError,
  CmekUnknownKekError,
} from '@cmek/core';

export const AWS_KMS_PROVIDER_ID = 'aws-kms';

export type KmsOperation = 'GenerateDataKey' | 'Decrypt' | 'ReEncrypt' | 'Encrypt';

/** The service says: try again later (the SDK already retried these). */
const UNAVAILABLE_NAMES = new Set([
  'DependencyTimeoutException',
  'KMSInternalException',
  'KeyUnavailableException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);

/** The principal may not use the key: no key policy statement, IAM permission or grant allows it. */
const POLICY_DENIED_NAMES = new Set([
  'AccessDeniedException',
  // STS (through a credential provider such as `fromTemporaryCredentials`): the role's trust
  // policy does not allow the caller, or the ExternalId does not match.
  'AccessDenied',
]);

/** The caller's credentials are missing, invalid or expired (before any key is looked at). */
const CREDENTIAL_NAMES = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'ExpiredToken',
  'CredentialsProviderError',
  'RegionDisabledException',
]);

/** The blob does not open: altered, another key's, or another encryption context's. */
const DECRYPTION_NAMES = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

/** The named key does not exist (or the id is not a key id, ARN or alias at all). */
const UNKNOWN_KEY_NAMES = new Set(['NotFoundException', 'InvalidArnException']);

/** The key exists but is not a symmetric encryption key (e.g. a signing or HMAC key). */
const KEY_USAGE_NAMES = new Set(['InvalidKeyUsageException', 'UnsupportedOperationException']);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_HTTP2_STREAM_ERROR',
]);

interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $retryable?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly cause?: unknown;
}

function shapeOf(error: unknown): SdkErrorShape {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
}

function statusOf(error: SdkErrorShape): number | undefined {
  const status = error.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A failure below HTTP: refused, reset, DNS, timeout. Such errors carry no HTTP status. */
function isNetworkError(error: SdkErrorShape, depth = 0): boolean {
  if (typeof error.code === 'string' && NETWORK_CODES.has(error.code)) return true;
  if (depth < 5 && error.cause !== undefined)
    return isNetworkError(shapeOf(error.cause), depth + 1);
  return false;
}

function isUnavailable(error: SdkErrorShape, name: string): boolean {
  if (UNAVAILABLE_NAMES.has(name)) return true;
  if (error.$retryable !== undefined) return true;
  const status = statusOf(error);
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  return isNetworkError(error);
}

/** Why a call was refused, for the names that mean access denied; `undefined` for any other name. */
function accessDeniedReason(name: string, status: number | undefined): string | undefined {
  if (name === 'DisabledException') return 'the key is disabled; `enable-key` restores access';
  if (name === 'KMSInvalidStateException') {
    return 'the key is pending deletion or otherwise not usable in its state; `cancel-key-deletion` and `enable-key` restore access until the deletion date';
  }
  if (name === 'InvalidGrantTokenException') {
    return 'a grant token is invalid, or its grant was retired or revoked';
  }
  if (CREDENTIAL_NAMES.has(name)) {
    return 'the credentials are missing, invalid or expired, or the role could not be assumed';
  }
  if (POLICY_DENIED_NAMES.has(name) || status === 403) {
    return 'no key policy statement, IAM policy or grant allows this principal to use the key (for a key in another account: the key policy or a grant must name the calling role, or the role to assume must trust it)';
  }
  return undefined;
}

/** What every error of a KMS call carries besides its code: which provider and which key. */
export interface KmsCallError extends CmekError {
  readonly providerId: string;
  readonly keyRef: string;
}

/**
 * Names the key on the error (as `CmekUnknownKekError` already does), so that a caller holding
 * many providers, such as a keyring with one KEK per tenant, can tell which key refused without
 * parsing the message. Read-only own properties; an existing value is kept.
 */
export function withKeyRef(error: CmekError, keyRef: string): KmsCallError {
  const fields = error as CmekError & { providerId?: unknown; keyRef?: unknown };
  for (const [name, value] of [
    ['providerId', AWS_KMS_PROVIDER_ID],
    ['keyRef', keyRef],
  ] as const) {
    if (fields[name] === undefined) {
      Object.defineProperty(error, name, { value, enumerable: true, writable: false });
    }
  }
  return error as KmsCallError;
}

/**
 * The cmek error for a failed KMS call, carrying `providerId` and `keyRef`. `keyRef` is the key
 * the call was about (for `ReEncrypt`, the source key; the destination is the provider's own key).
 */
export function mapKmsError(error: unknown, operation: KmsOperation, keyRef: string): KmsCallError {
  return withKeyRef(classify(error, operation, keyRef), keyRef);
}

function classify(error: unknown, operation: KmsOperation, keyRef: string): CmekError {
  const shape = shapeOf(error);
  const name = typeof shape.name === 'string' ? shape.name : 'Error';
  const options = { cause: error };
  const where = `AWS KMS ${operation} with key '${keyRef}'`;

  if (DECRYPTION_NAMES.has(name)) {
    return new CmekDecryptionError(
      `${where} refused the wrapped DEK (${name}): it was altered, or it was written under another key or another KMS encryption context`,
      options,
    );
  }
  const denied = accessDeniedReason(name, statusOf(shape));
  if (denied !== undefined) {
    return new CmekKekAccessDeniedError(`${where} was refused (${name}): ${denied}`, options);
  }
  if (UNKNOWN_KEY_NAMES.has(name)) {
    return new CmekUnknownKekError(
      AWS_KMS_PROVIDER_ID,
      keyRef,
      `${where} failed (${name}): KMS has no such key in this account and region (a wrong ARN or Region, or a key that was deleted: values under a deleted key cannot be recovered)`,
      options,
    );
  }
  if (KEY_USAGE_NAMES.has(name)) {
    return new CmekConfigError(
      `${where} failed (${name}): the key must be a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)`,
      options,
    );
  }
  if (isUnavailable(shape, name)) {
    return new CmekKekUnavailableError(
      `${where} is unavailable (${name}) after the SDK's retries; try again later`,
      options,
    );
  }
  return new CmekProviderError(
    AWS_KMS_PROVIDER_ID,
    `${where} failed with an unexpected error (${name}); see cause`,
    options,
  );
}
