/**
 * A KEK provider for unit tests: AES-256-GCM under a random in-memory KEK, counting its calls.
 * Not shipped: the real providers live in their own packages and run the conformance suite.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CmekDecryptionError, CmekUnknownKekError, type KekProvider } from '../../src/index';

export interface MemoryProvider extends KekProvider {
  readonly calls: { generateDataKey: number; unwrap: number; unwrapMany: number };
  /** Makes the next calls fail with this error (until set back to undefined). */
  failWith: Error | undefined;
  /** Delays every call by this many milliseconds. */
  delayMs: number;
}

export function memoryProvider(
  options: { keyRef?: string; providerId?: string; batch?: boolean } = {},
): MemoryProvider {
  const kek = randomBytes(32);
  const keyRef = options.keyRef ?? randomBytes(4).toString('hex');
  const providerId = options.providerId ?? 'memory';
  const calls = { generateDataKey: 0, unwrap: 0, unwrapMany: 0 };

  const open = (wrapped: Uint8Array, ref: string): Uint8Array => {
    if (ref !== keyRef) throw new CmekUnknownKekError(providerId, ref);
    const bytes = Buffer.from(wrapped);
    if (bytes.length !== 60) throw new CmekDecryptionError();
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(44));
      return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
    } catch {
      throw new CmekDecryptionError();
    }
  };

  const provider: MemoryProvider = {
    specificationVersion: 'v1',
    providerId,
    keyRef,
    calls,
    failWith: undefined,
    delayMs: 0,
    async generateDataKey() {
      calls.generateDataKey++;
      await pause(provider);
      const dek = randomBytes(32);
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', kek, nonce);
      const body = Buffer.concat([cipher.update(dek), cipher.final()]);
      return { plaintext: dek, wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
    },
    async unwrap(wrapped, ref) {
      calls.unwrap++;
      await pause(provider);
      return open(wrapped, ref);
    },
    ...(options.batch
      ? {
          async unwrapMany(items: readonly { wrapped: Uint8Array; keyRef: string }[]) {
            calls.unwrapMany++;
            await pause(provider);
            return items.map((item) => open(item.wrapped, item.keyRef));
          },
        }
      : {}),
  };
  return provider;
}

async function pause(provider: MemoryProvider): Promise<void> {
  if (provider.delayMs > 0) await new Promise((r) => setTimeout(r, provider.delayMs));
  if (provider.failWith) throw provider.failWith;
}
