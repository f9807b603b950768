/** The provider conformance suite, against the moto server (a real KMS API over HTTP). */
import { providerConformanceSuite } from '@cmek/test-suite';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createAwsKmsKekProvider } from '../src/index';
import { adminClient, CREDENTIALS, createKey, motoEndpoint, REGION } from './support/moto';

const endpoint = motoEndpoint() ?? '';

describe.skipIf(!endpoint)('aws-kms against moto', () => {
  const keys = { a: '', b: '' };
  const admin = endpoint ? adminClient(endpoint) : undefined;
  const provider = (keyId: string) =>
    createAwsKmsKekProvider({
      keyId,
      region: REGION,
      endpoint,
      credentials: CREDENTIALS,
      encryptionContext: { app: 'cmek-conformance' },
    });

  providerConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      async setup() {
        if (!admin) return;
        keys.a = await createKey(admin, 'conformance A');
        keys.b = await createKey(admin, 'conformance B');
      },
      cleanup() {
        admin?.destroy();
      },
      create: async () => provider(keys.a),
      createOther: async () => provider(keys.b),
    },
    { name: 'aws-kms provider conformance', features: { rewrap: true, wrap: true, close: true } },
  );
});
