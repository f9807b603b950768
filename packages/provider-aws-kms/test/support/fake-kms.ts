/**
 * A fake KMS client for unit tests: records every command it is sent and answers through a
 * handler the test sets. No network. Tests assert on `calls[i].input`.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  type KMSClient,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';

export type KmsCommandName = 'GenerateDataKey' | 'Decrypt' | 'ReEncrypt' | 'Encrypt';

export interface RecordedCall {
  readonly name: KmsCommandName;
  readonly input: Readonly<Record<string, unknown>>;
}

type Handler = (call: RecordedCall) => unknown;

function nameOf(command: unknown): KmsCommandName {
  if (command instanceof GenerateDataKeyCommand) return 'GenerateDataKey';
  if (command instanceof DecryptCommand) return 'Decrypt';
  if (command instanceof ReEncryptCommand) return 'ReEncrypt';
  if (command instanceof EncryptCommand) return 'Encrypt';
  throw new Error(`the fake KMS client does not know ${String(command)}`);
}

export class FakeKms {
  readonly calls: RecordedCall[] = [];
  destroyed = 0;
  handler: Handler = () => {
    throw new Error('no handler set');
  };

  async send(command: { readonly input: unknown }): Promise<unknown> {
    const call: RecordedCall = {
      name: nameOf(command),
      input: command.input as Record<string, unknown>,
    };
    this.calls.push(call);
    return this.handler(call);
  }

  destroy(): void {
    this.destroyed++;
  }

  /** The fake where the provider's option wants a KMSClient (it only ever calls send). */
  asClient(): KMSClient {
    return this as unknown as KMSClient;
  }
}

/**
 * A fake KMS that behaves like KMS for GenerateDataKey / Decrypt / ReEncrypt: the "blob" is
 * `key id || 0x00 || canonical context || 0x00 || DEK`, checked on the way back.
 */
export function behaveLikeKms(fake: FakeKms): void {
  const encode = (keyId: string, context: unknown, dek: Uint8Array): Uint8Array =>
    Buffer.concat([
      Buffer.from(`${keyId}\u0000${JSON.stringify(context ?? {})}\u0000`),
      Buffer.from(dek),
    ]);
  const decode = (blob: Uint8Array): { keyId: string; context: string; dek: Uint8Array } => {
    const b = Buffer.from(blob);
    const first = b.indexOf(0);
    const second = b.indexOf(0, first + 1);
    return {
      keyId: b.subarray(0, first).toString(),
      context: b.subarray(first + 1, second).toString(),
      dek: new Uint8Array(b.subarray(second + 1)),
    };
  };
  let counter = 0;
  fake.handler = ({ name, input }) => {
    if (name === 'GenerateDataKey') {
      const dek = new Uint8Array(32).fill(++counter);
      return {
        Plaintext: dek.slice(),
        CiphertextBlob: encode(String(input.KeyId), input.EncryptionContext, dek),
        KeyId: input.KeyId,
      };
    }
    if (name === 'Decrypt') {
      const blob = decode(input.CiphertextBlob as Uint8Array);
      if (blob.keyId !== input.KeyId) throw new Error('fake: wrong key');
      if (blob.context !== JSON.stringify(input.EncryptionContext ?? {})) {
        throw new Error('fake: wrong context');
      }
      return { Plaintext: blob.dek, KeyId: blob.keyId };
    }
    throw new Error(`fake: ${name} not scripted`);
  };
}
