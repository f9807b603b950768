/** Unit tests: each SDK failure, thrown by a fake client, becomes the documented cmek error. */
import {
  DependencyTimeoutException,
  DisabledException,
  IncorrectKeyException,
  InvalidArnException,
  InvalidCiphertextException,
  InvalidGrantTokenException,
  InvalidKeyUsageException,
  KeyUnavailableException,
  KMSInternalException,
  KMSInvalidStateException,
  KMSServiceException,
  LimitExceededException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import {
  CmekConfigError,
  CmekDecryptionError,
  type CmekError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekProviderError,
  CmekUnknownKekError,
} from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { createAwsKmsKekProvider } from '../src/index';
import { FakeKms } from './support/fake-kms';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SECRET_IN_KMS_MESSAGE = 'kms-said-something-long';
const meta = (httpStatusCode?: number) => ({
  $metadata: httpStatusCode === undefined ? { attempts: 3 } : { httpStatusCode, attempts: 3 },
});
const message = SECRET_IN_KMS_MESSAGE;

/** An unmodeled service error as the SDK deserializes it (e.g. AccessDeniedException). */
function serviceError(name: string, status: number, fault: 'client' | 'server' = 'client') {
  return new KMSServiceException({ name, $fault: fault, message, ...meta(status) });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:45329`), { code, ...meta() });
}

type ErrorClass = { isInstance(value: unknown): value is CmekError; readonly code: string };

const cases: [string, () => unknown, ErrorClass, boolean][] = [
  [
    'AccessDeniedException',
    () => serviceError('AccessDeniedException', 400),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'AccessDenied (STS: the role to assume does not trust the caller, or the ExternalId differs)',
    () => serviceError('AccessDenied', 403),
    CmekKekAccessDeniedError,
    false,
  ],
  ['an unlisted 403', () => serviceError('Forbidden', 403), CmekKekAccessDeniedError, false],
  [
    'RegionDisabledException (STS not active in the Region)',
    () => serviceError('RegionDisabledException', 403),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'DisabledException',
    () => new DisabledException({ message, ...meta(400) }),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'KMSInvalidStateException (pending deletion)',
    () => new KMSInvalidStateException({ message, ...meta(400) }),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'InvalidGrantTokenException',
    () => new InvalidGrantTokenException({ message, ...meta(400) }),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'UnrecognizedClientException (bad credentials)',
    () => serviceError('UnrecognizedClientException', 400),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'CredentialsProviderError (no credentials)',
    () =>
      Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }),
    CmekKekAccessDeniedError,
    false,
  ],
  [
    'NotFoundException',
    () => new NotFoundException({ message, ...meta(400) }),
    CmekUnknownKekError,
    false,
  ],
  [
    'InvalidArnException',
    () => new InvalidArnException({ message, ...meta(400) }),
    CmekUnknownKekError,
    false,
  ],
  [
    'InvalidCiphertextException',
    () => new InvalidCiphertextException({ message, ...meta(400) }),
    CmekDecryptionError,
    false,
  ],
  [
    'IncorrectKeyException',
    () => new IncorrectKeyException({ message, ...meta(400) }),
    CmekDecryptionError,
    false,
  ],
  [
    'InvalidKeyUsageException',
    () => new InvalidKeyUsageException({ message, ...meta(400) }),
    CmekConfigError,
    false,
  ],
  [
    'ThrottlingException',
    () => serviceError('ThrottlingException', 400),
    CmekKekUnavailableError,
    true,
  ],
  [
    'LimitExceededException',
    () => new LimitExceededException({ message, ...meta(400) }),
    CmekKekUnavailableError,
    true,
  ],
  ['a 429 of any name', () => serviceError('SlowDownPlease', 429), CmekKekUnavailableError, true],
  [
    'KMSInternalException',
    () => new KMSInternalException({ message, ...meta(500) }),
    CmekKekUnavailableError,
    true,
  ],
  [
    'DependencyTimeoutException',
    () => new DependencyTimeoutException({ message, ...meta(503) }),
    CmekKekUnavailableError,
    true,
  ],
  [
    'KeyUnavailableException',
    () => new KeyUnavailableException({ message, ...meta(500) }),
    CmekKekUnavailableError,
    true,
  ],
  [
    'an unmodeled 502 from a proxy',
    () => serviceError('UnknownError', 502, 'server'),
    CmekKekUnavailableError,
    true,
  ],
  ['ECONNREFUSED', () => networkError('ECONNREFUSED'), CmekKekUnavailableError, true],
  ['ECONNRESET', () => networkError('ECONNRESET'), CmekKekUnavailableError, true],
  ['ENOTFOUND (DNS)', () => networkError('ENOTFOUND'), CmekKekUnavailableError, true],
  [
    'a network error wrapped as a cause',
    () => new Error('socket hang up', { cause: networkError('EPIPE') }),
    CmekKekUnavailableError,
    true,
  ],
  [
    'TimeoutError (request timeout)',
    () => Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
    CmekKekUnavailableError,
    true,
  ],
  ['an unknown 400', () => serviceError('ValidationException', 400), CmekProviderError, false],
  ['a plain TypeError', () => new TypeError('x is not a function'), CmekProviderError, false],
];

describe('error mapping', () => {
  for (const [label, make, expected, retryable] of cases) {
    it(`${label} -> ${expected.code}`, async () => {
      const fake = new FakeKms();
      const provider = createAwsKmsKekProvider({ keyId: KEY, client: fake.asClient() });
      const thrown = make();
      fake.handler = () => {
        throw thrown;
      };
      for (const call of [
        () => provider.generateDataKey(),
        () => provider.unwrap(new Uint8Array([1, 2, 3]), KEY),
        () => provider.rewrap(new Uint8Array([1, 2, 3]), KEY),
      ]) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(expected.isInstance(error)).toBe(true);
        const typed = error as CmekError;
        expect(typed.retryable).toBe(retryable);
        expect(typed.cause).toBe(thrown);
        expect(typed.message).not.toContain(SECRET_IN_KMS_MESSAGE);
        // Every error of a call names its provider and key, for a caller holding many keys.
        expect((typed as CmekError & { keyRef?: unknown }).keyRef).toBe(KEY);
        expect((typed as CmekError & { providerId?: unknown }).providerId).toBe('aws-kms');
      }
    });
  }

  it('names the operation and the key, not the wrapped bytes', async () => {
    const fake = new FakeKms();
    const provider = createAwsKmsKekProvider({ keyId: KEY, client: fake.asClient() });
    fake.handler = () => {
      throw new InvalidCiphertextException({ message, ...meta(400) });
    };
    const wrapped = Buffer.from('wrapped-dek-bytes-that-must-not-leak');
    const error = (await provider.unwrap(wrapped, KEY).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('Decrypt');
    expect(error.message).toContain(KEY);
    expect(error.message).not.toContain(wrapped.toString('base64'));
    expect(error.message).not.toContain(wrapped.toString());
  });

  it('says which of the refusals it was: disabled, pending deletion, credentials, policy', async () => {
    const expected: [() => unknown, string][] = [
      [() => new DisabledException({ message, ...meta(400) }), 'the key is disabled'],
      [() => new KMSInvalidStateException({ message, ...meta(400) }), 'pending deletion'],
      [() => serviceError('ExpiredTokenException', 400), 'credentials'],
      [() => serviceError('AccessDenied', 403), 'role to assume must trust it'],
      [() => serviceError('AccessDeniedException', 400), 'key policy'],
      [() => new NotFoundException({ message, ...meta(400) }), 'deleted'],
    ];
    for (const [make, phrase] of expected) {
      const fake = new FakeKms();
      const provider = createAwsKmsKekProvider({ keyId: KEY, client: fake.asClient() });
      fake.handler = () => {
        throw make();
      };
      const error = (await provider.generateDataKey().catch((e: unknown) => e)) as Error;
      expect(error.message).toContain(phrase);
    }
  });

  it('reports a missing source key of a ReEncrypt under the source keyRef', async () => {
    const fake = new FakeKms();
    const provider = createAwsKmsKekProvider({ keyId: KEY, client: fake.asClient() });
    fake.handler = () => {
      throw new NotFoundException({ message, ...meta(400) });
    };
    const source = 'arn:aws:kms:eu-west-1:111122223333:key/old';
    const error = await provider.rewrap(new Uint8Array([1]), source).catch((e: unknown) => e);
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe(source);
  });
});
