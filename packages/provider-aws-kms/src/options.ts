/** Options of `createAwsKmsKekProvider` and their validation (every failure is a `CmekConfigError`). */
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { CmekConfigError } from '@cmek/core';
import { parseKmsArn } from './key-arn';

export interface AwsKmsKekProviderOptions {
  /**
   * The KMS key new DEKs are wrapped under, and the `keyRef` written into every token. A key ARN
   * is recommended; a key id, an alias name (`alias/app`) or an alias ARN are accepted. It must stay
   * byte-for-byte the same for as long as values written under it exist.
   */
  keyId: string;
  /** A client to use as given (the provider never destroys it). Excludes the client options below. */
  client?: KMSClient;
  /**
   * Region of the client the provider creates. Defaults to the Region in `keyId` when it is an ARN
   * (a tenant's key may live in another Region), else the SDK's resolution (`AWS_REGION`, ...).
   * A Region other than the ARN's is refused: KMS keys are regional.
   */
  region?: string;
  /** Endpoint of the client the provider creates (a VPC endpoint, FIPS, or a local KMS API server). */
  endpoint?: string;
  /**
   * Credentials of the client the provider creates: static keys, or a credential provider such as
   * `fromTemporaryCredentials({ params: { RoleArn, ExternalId } })` from
   * `@aws-sdk/credential-providers` (a role per tenant, in the tenant's account). Defaults to the
   * SDK's default provider chain.
   */
  credentials?: KMSClientConfig['credentials'];
  /** Attempts per KMS call by the SDK's retry strategy, first call included. SDK default: 3. */
  maxAttempts?: number;
  /** The SDK's retry mode. SDK default: `standard`. */
  retryMode?: 'standard' | 'adaptive';
  /**
   * Time limit in ms for connecting and for each attempt of the client the provider creates; an
   * attempt over it fails with a retryable timeout. SDK default: none (a stalled KMS call waits).
   */
  requestTimeoutMs?: number;
  /**
   * A static KMS encryption context sent with every GenerateDataKey, Decrypt, ReEncrypt and
   * Encrypt (not secret: it appears in CloudTrail). Values written under one context open only
   * under the same one.
   */
  encryptionContext?: Readonly<Record<string, string>>;
  /** Grant tokens sent with every call (at most 10), for grants not yet eventually consistent. */
  grantTokens?: readonly string[];
}

export interface ValidatedOptions {
  readonly keyId: string;
  /** The Region of the client the provider creates, when known before the SDK resolves one. */
  readonly region: string | undefined;
  readonly encryptionContext: Readonly<Record<string, string>> | undefined;
  readonly grantTokens: readonly string[] | undefined;
}

const MAX_KEY_REF_BYTES = 1024;
const MAX_GRANT_TOKENS = 10;
const CLIENT_OPTIONS = [
  'region',
  'endpoint',
  'credentials',
  'maxAttempts',
  'retryMode',
  'requestTimeoutMs',
] as const;

function fail(message: string): never {
  throw new CmekConfigError(`createAwsKmsKekProvider: ${message}`);
}

function validateKeyId(keyId: unknown): string {
  if (typeof keyId !== 'string' || keyId.length === 0) fail('keyId must be a non-empty string');
  if (keyId.trim() !== keyId) fail('keyId must not start or end with whitespace');
  if (Buffer.byteLength(keyId, 'utf8') > MAX_KEY_REF_BYTES) {
    fail(`keyId must be at most ${MAX_KEY_REF_BYTES} bytes (it is stored in every token)`);
  }
  return keyId;
}

function validateContext(value: unknown): Readonly<Record<string, string>> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('encryptionContext must be an object of string keys to string values');
  }
  const copy: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (key.length === 0) fail('encryptionContext keys must be non-empty');
    if (typeof entry !== 'string') fail(`encryptionContext['${key}'] must be a string`);
    copy[key] = entry;
  }
  return Object.keys(copy).length === 0 ? undefined : Object.freeze(copy);
}

function validateGrantTokens(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) fail('grantTokens must be an array of strings');
  if (value.length > MAX_GRANT_TOKENS) fail(`grantTokens holds at most ${MAX_GRANT_TOKENS} tokens`);
  for (const token of value) {
    if (typeof token !== 'string' || token.length === 0) {
      fail('grantTokens must hold non-empty strings');
    }
  }
  return value.length === 0 ? undefined : Object.freeze([...(value as string[])]);
}

function validateClientOptions(options: AwsKmsKekProviderOptions): void {
  if (options.client !== undefined) {
    const client: unknown = options.client;
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof (client as { send?: unknown }).send !== 'function'
    ) {
      fail('client must be a KMSClient (an object with send())');
    }
    const extra = CLIENT_OPTIONS.filter((name) => options[name] !== undefined);
    if (extra.length > 0) {
      fail(
        `${extra.join(', ')} configure the client the provider creates; set them on your client`,
      );
    }
    return;
  }
  for (const name of ['region', 'endpoint'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      fail(`${name} must be a non-empty string`);
    }
  }
  const { maxAttempts, retryMode, requestTimeoutMs } = options;
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1)) {
    fail('maxAttempts must be an integer >= 1');
  }
  if (
    requestTimeoutMs !== undefined &&
    (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1)
  ) {
    fail('requestTimeoutMs must be an integer >= 1');
  }
  if (retryMode !== undefined && retryMode !== 'standard' && retryMode !== 'adaptive') {
    fail("retryMode must be 'standard' or 'adaptive'");
  }
}

/** The configured Region, or the key ARN's; a Region other than the ARN's is refused. */
function resolveRegion(options: AwsKmsKekProviderOptions, keyId: string): string | undefined {
  if (options.client !== undefined) return undefined;
  const arnRegion = parseKmsArn(keyId)?.region;
  if (options.region !== undefined && arnRegion !== undefined && options.region !== arnRegion) {
    fail(
      `region '${options.region}' is not the Region of the key ARN ('${arnRegion}'): KMS keys are regional; leave region out to use the ARN's`,
    );
  }
  return options.region ?? arnRegion;
}

export function validateOptions(options: unknown): ValidatedOptions {
  if (typeof options !== 'object' || options === null) {
    fail('needs an options object with a keyId');
  }
  const opts = options as AwsKmsKekProviderOptions;
  const keyId = validateKeyId(opts.keyId);
  validateClientOptions(opts);
  return {
    keyId,
    region: resolveRegion(opts, keyId),
    encryptionContext: validateContext(opts.encryptionContext),
    grantTokens: validateGrantTokens(opts.grantTokens),
  };
}
