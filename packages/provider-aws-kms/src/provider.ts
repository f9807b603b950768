/** The `aws-kms` KEK provider: DEKs from KMS GenerateDataKey, opened with Decrypt, moved with ReEncrypt. */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type KMSClientConfig,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';
import {
  CmekClosedError,
  CmekInvalidInputError,
  CmekProviderError,
  CmekUnknownKekError,
  type GeneratedDataKey,
  type KekProvider,
  type WrappedDataKey,
} from '@cmek/core';
import {
  AWS_KMS_PROVIDER_ID,
  type KmsCallError,
  type KmsOperation,
  mapKmsError,
  withKeyRef,
} from './map-error';
import { type AwsKmsKekProviderOptions, validateOptions } from './options';

/** A `KekProvider` whose `providerId` is `aws-kms` and whose `keyRef` is the configured `keyId`. */
export interface AwsKmsKekProvider extends KekProvider {
  readonly providerId: 'aws-kms';
  /** Opens a DEK written under this provider's key; any other `keyRef` is `CmekUnknownKekError`. */
  unwrap(wrapped: Uint8Array, keyRef: string): Promise<Uint8Array>;
  /** KMS ReEncrypt from `keyRef` to this provider's key; the DEK never leaves KMS. */
  rewrap(wrapped: Uint8Array, keyRef: string): Promise<WrappedDataKey>;
  /** KMS Encrypt of an existing DEK under this provider's key (moving DEKs from another provider). */
  wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }>;
  /** Destroys the client the provider created (an injected client is left alone). */
  close(): Promise<void>;
}

const DEK_LENGTH = 32;

function closedError(): CmekClosedError {
  return new CmekClosedError('this AWS KMS KEK provider has been closed');
}

function requireBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength === 0) {
    throw new CmekInvalidInputError(`${what} must be a non-empty Uint8Array`);
  }
  return value;
}

function missing(operation: KmsOperation, keyRef: string, field: string): KmsCallError {
  return withKeyRef(
    new CmekProviderError(
      AWS_KMS_PROVIDER_ID,
      `AWS KMS ${operation} with key '${keyRef}' answered without ${field}`,
    ),
    keyRef,
  );
}

function createClient(options: AwsKmsKekProviderOptions, region: string | undefined): KMSClient {
  const config: KMSClientConfig = {};
  if (region !== undefined) config.region = region;
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
  if (options.retryMode !== undefined) config.retryMode = options.retryMode;
  if (options.requestTimeoutMs !== undefined) {
    const ms = options.requestTimeoutMs;
    config.requestHandler = {
      connectionTimeout: ms,
      requestTimeout: ms,
      throwOnRequestTimeout: true,
    };
  }
  return new KMSClient(config);
}

/**
 * The AWS KMS provider. Every call passes the configured `keyId` and the static
 * `encryptionContext`; retries are the SDK's (`maxAttempts`, `retryMode`, or your client's).
 */
export function createAwsKmsKekProvider(options: AwsKmsKekProviderOptions): AwsKmsKekProvider {
  const { keyId, region, encryptionContext, grantTokens } = validateOptions(options);
  const ownsClient = options.client === undefined;
  const client = options.client ?? createClient(options, region);
  // Spread into each request so a command never shares (or mutates) the provider's copies.
  const context = (): Record<string, string> | undefined =>
    encryptionContext === undefined ? undefined : { ...encryptionContext };
  const grants = (): string[] | undefined =>
    grantTokens === undefined ? undefined : [...grantTokens];
  let closed = false;

  async function send<T>(operation: KmsOperation, keyRef: string, run: () => Promise<T>) {
    if (closed) throw closedError();
    try {
      return await run();
    } catch (error) {
      throw mapKmsError(error, operation, keyRef);
    }
  }

  return {
    specificationVersion: 'v1',
    providerId: AWS_KMS_PROVIDER_ID,
    keyRef: keyId,

    async generateDataKey(): Promise<GeneratedDataKey> {
      const out = await send('GenerateDataKey', keyId, () =>
        client.send(
          new GenerateDataKeyCommand({
            KeyId: keyId,
            KeySpec: 'AES_256',
            EncryptionContext: context(),
            GrantTokens: grants(),
          }),
        ),
      );
      if (out.CiphertextBlob === undefined || out.CiphertextBlob.byteLength === 0) {
        out.Plaintext?.fill(0);
        throw missing('GenerateDataKey', keyId, 'CiphertextBlob');
      }
      if (out.Plaintext === undefined) throw missing('GenerateDataKey', keyId, 'Plaintext');
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
    },

    async unwrap(wrapped: Uint8Array, keyRef: string): Promise<Uint8Array> {
      if (closed) throw closedError();
      requireBytes(wrapped, 'the wrapped DEK');
      if (keyRef !== keyId) throw new CmekUnknownKekError(AWS_KMS_PROVIDER_ID, String(keyRef));
      const out = await send('Decrypt', keyId, () =>
        client.send(
          new DecryptCommand({
            CiphertextBlob: wrapped,
            KeyId: keyId,
            EncryptionContext: context(),
            GrantTokens: grants(),
          }),
        ),
      );
      if (out.Plaintext === undefined) throw missing('Decrypt', keyId, 'Plaintext');
      return out.Plaintext;
    },

    async rewrap(wrapped: Uint8Array, keyRef: string): Promise<WrappedDataKey> {
      if (closed) throw closedError();
      requireBytes(wrapped, 'the wrapped DEK');
      if (typeof keyRef !== 'string' || keyRef.length === 0) {
        throw new CmekInvalidInputError('rewrap needs the key reference the DEK was written under');
      }
      const out = await send('ReEncrypt', keyRef, () =>
        client.send(
          new ReEncryptCommand({
            CiphertextBlob: wrapped,
            SourceKeyId: keyRef,
            SourceEncryptionContext: context(),
            DestinationKeyId: keyId,
            DestinationEncryptionContext: context(),
            GrantTokens: grants(),
          }),
        ),
      );
      if (out.CiphertextBlob === undefined || out.CiphertextBlob.byteLength === 0) {
        throw missing('ReEncrypt', keyId, 'CiphertextBlob');
      }
      return { wrapped: out.CiphertextBlob, keyRef: keyId };
    },

    async wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }> {
      if (closed) throw closedError();
      if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
        throw new CmekInvalidInputError(`wrap takes a ${DEK_LENGTH}-byte DEK`);
      }
      try {
        const out = await send('Encrypt', keyId, () =>
          client.send(
            new EncryptCommand({
              Plaintext: dek,
              KeyId: keyId,
              EncryptionContext: context(),
              GrantTokens: grants(),
            }),
          ),
        );
        if (out.CiphertextBlob === undefined || out.CiphertextBlob.byteLength === 0) {
          throw missing('Encrypt', keyId, 'CiphertextBlob');
        }
        return { wrapped: out.CiphertextBlob };
      } finally {
        // The core hands the provider its own copy of the DEK; nothing else needs it now.
        dek.fill(0);
      }
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (ownsClient) client.destroy();
    },
  };
}
