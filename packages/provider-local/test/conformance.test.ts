import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { providerConformanceSuite } from '@cmek/test-suite';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  createLocalKekProvider,
  createLocalKekProviderFromKey,
  generateKekFile,
} from '../src/index';
import { makeTempDir } from './support';

const temp = makeTempDir();
const primary = join(temp.dir, 'primary.key');
const other = join(temp.dir, 'other.key');

// The provider as applications load it: from key files on disk.
providerConformanceSuite(
  { describe, it, beforeAll, afterAll },
  {
    async setup() {
      await generateKekFile(primary);
      await generateKekFile(other);
    },
    create: () => createLocalKekProvider({ path: primary }),
    createOther: () => createLocalKekProvider({ path: other }),
    cleanup: () => temp.remove(),
  },
  { name: 'provider-local conformance (key files)', features: { wrap: true } },
);

// The in-memory form the CLI and the vectors use.
const keyA = randomBytes(32);
const keyB = randomBytes(32);
providerConformanceSuite(
  { describe, it },
  {
    create: async () => createLocalKekProviderFromKey(keyA),
    createOther: async () => createLocalKekProviderFromKey(keyB),
  },
  {
    name: 'provider-local conformance (key bytes)',
    manyDeks: 200,
    concurrency: 500,
    features: { wrap: true },
  },
);
