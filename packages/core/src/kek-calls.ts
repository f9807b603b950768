/**
 * Every call into a provider goes through here: the core, not the provider, enforces the
 * invariants (a DEK is 32 bytes, wrapped bytes are 1..8192, a keyRef is present), maps anything
 * unexpected to a typed error, and reports the call as an event.
 */
import type { Emit } from './emitter';
import { CmekConfigError, CmekError, type CmekErrorCode, CmekProviderError } from './errors';
import type { KekOperation } from './events';
import { DEK_LENGTH } from './fernet';
import type { KekCallHook } from './kek-call-hook';
import type { KekProvider, WrappedDataKey } from './provider';
import { MAX_KEY_REF_BYTES, MAX_WRAPPED_BYTES } from './record';

export type { Emit } from './emitter';

/** Where the KEK calls of one envelope (or engine run, or index-key call) report. */
export interface KekChannel {
  readonly emit: Emit;
  /** The around-hook (`EnvelopeOptions.kekCallHook`). */
  readonly hook?: KekCallHook | undefined;
  /** Told of a failed call's code right after its event (the envelope evicts on access denied). */
  readonly failed?: ((code: CmekErrorCode, providerId: string, keyRef: string) => void) | undefined;
}

/** A DEK the caller owns: a private copy, to be zeroed by the caller when done. */
export interface OwnedDataKey {
  readonly dek: Buffer;
  readonly wrapped: Buffer;
}

function ownBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.alloc(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

function checkDek(provider: KekProvider, dek: unknown, operation: KekOperation): Buffer {
  if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
    throw new CmekProviderError(
      provider.providerId,
      `provider '${provider.providerId}' returned a DEK that is not ${DEK_LENGTH} bytes from ${operation}`,
    );
  }
  const copy = ownBytes(dek);
  dek.fill(0);
  return copy;
}

function checkWrapped(provider: KekProvider, wrapped: unknown, operation: KekOperation): Buffer {
  if (
    !(wrapped instanceof Uint8Array) ||
    wrapped.byteLength < 1 ||
    wrapped.byteLength > MAX_WRAPPED_BYTES
  ) {
    throw new CmekProviderError(
      provider.providerId,
      `provider '${provider.providerId}' returned wrapped bytes that are empty or over ${MAX_WRAPPED_BYTES} bytes from ${operation}`,
    );
  }
  return ownBytes(wrapped);
}

export function checkKeyRef(provider: KekProvider, keyRef: unknown): string {
  if (
    typeof keyRef !== 'string' ||
    keyRef.length === 0 ||
    Buffer.byteLength(keyRef) > MAX_KEY_REF_BYTES
  ) {
    throw new CmekProviderError(
      provider.providerId,
      `provider '${provider.providerId}' has a keyRef that is empty, not a string or over ${MAX_KEY_REF_BYTES} bytes`,
    );
  }
  return keyRef;
}

async function call<T>(
  kek: KekChannel,
  provider: KekProvider,
  operation: KekOperation,
  keyRef: string,
  count: number,
  run: () => Promise<T>,
): Promise<T> {
  const { providerId } = provider;
  const body = async (): Promise<T> => {
    const started = performance.now();
    const report = (errorCode?: CmekErrorCode): void =>
      kek.emit({
        type: 'kek-call',
        operation,
        providerId,
        keyRef,
        count,
        durationMs: performance.now() - started,
        ok: errorCode === undefined,
        ...(errorCode === undefined ? {} : { errorCode }),
      });
    try {
      const result = await run();
      report();
      return result;
    } catch (error) {
      const typed = CmekError.isInstance(error)
        ? error
        : new CmekProviderError(
            providerId,
            `provider '${providerId}' failed in ${operation} with an unexpected error (see cause)`,
            { cause: error },
          );
      report(typed.code);
      kek.failed?.(typed.code, providerId, keyRef);
      throw typed;
    }
  };
  const hook = kek.hook;
  if (hook === undefined) return body();
  let done: { readonly value: T } | undefined;
  const result = await hook({ operation, providerId, keyRef, count }, async () => {
    const value = await body();
    done = { value };
    return value;
  });
  if (done === undefined || result !== done.value) {
    throw new CmekConfigError(`kekCallHook must resolve to what run() resolved to (${operation})`);
  }
  return result;
}

export function generateDataKey(kek: KekChannel, provider: KekProvider): Promise<OwnedDataKey> {
  return call(kek, provider, 'generateDataKey', provider.keyRef, 1, async () => {
    const result = await provider.generateDataKey();
    const wrapped = checkWrapped(provider, result?.wrapped, 'generateDataKey');
    return { dek: checkDek(provider, result?.plaintext, 'generateDataKey'), wrapped };
  });
}

export function unwrap(
  kek: KekChannel,
  provider: KekProvider,
  item: WrappedDataKey,
): Promise<Buffer> {
  return call(kek, provider, 'unwrap', item.keyRef, 1, async () =>
    checkDek(provider, await provider.unwrap(item.wrapped, item.keyRef), 'unwrap'),
  );
}

/** Unwraps several DEKs of one provider: one `unwrapMany` call where the provider has it. */
export function unwrapMany(
  kek: KekChannel,
  provider: KekProvider,
  items: readonly WrappedDataKey[],
): Promise<Buffer[]> {
  const many = provider.unwrapMany;
  if (items.length === 1 || many === undefined) {
    return Promise.all(items.map((item) => unwrap(kek, provider, item)));
  }
  return call(kek, provider, 'unwrapMany', provider.keyRef, items.length, async () => {
    const deks = await many.call(provider, items);
    if (!Array.isArray(deks) || deks.length !== items.length) {
      throw new CmekProviderError(
        provider.providerId,
        `provider '${provider.providerId}' returned ${Array.isArray(deks) ? deks.length : 'no'} DEKs for ${items.length} from unwrapMany`,
      );
    }
    return deks.map((dek) => checkDek(provider, dek, 'unwrapMany'));
  });
}

export function rewrap(
  kek: KekChannel,
  provider: KekProvider,
  item: WrappedDataKey,
): Promise<WrappedDataKey> | undefined {
  const fn = provider.rewrap;
  if (fn === undefined) return undefined;
  return call(kek, provider, 'rewrap', item.keyRef, 1, async () => {
    const result = await fn.call(provider, item.wrapped, item.keyRef);
    return {
      wrapped: checkWrapped(provider, result?.wrapped, 'rewrap'),
      keyRef: checkKeyRef(provider, result?.keyRef),
    };
  });
}

/** Wraps an existing DEK under the provider's KEK; `undefined` when the provider has no `wrap`. */
export function wrap(
  kek: KekChannel,
  provider: KekProvider,
  dek: Uint8Array,
): Promise<WrappedDataKey> | undefined {
  const fn = provider.wrap;
  if (fn === undefined) return undefined;
  if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
    throw new CmekProviderError(provider.providerId, `a DEK to wrap must be ${DEK_LENGTH} bytes`);
  }
  return call(kek, provider, 'wrap', provider.keyRef, 1, async () => {
    // The provider gets its own copy: it may zero or keep it without touching the caller's.
    const result = await fn.call(provider, ownBytes(dek));
    return {
      wrapped: checkWrapped(provider, result?.wrapped, 'wrap'),
      keyRef: checkKeyRef(provider, provider.keyRef),
    };
  });
}

/**
 * The health probe: one `generateDataKey` of the provider, reported as operation `health`; the
 * DEK is checked and zeroed at once, the wrapped bytes dropped.
 */
export function probe(kek: KekChannel, provider: KekProvider): Promise<void> {
  return call(kek, provider, 'health', provider.keyRef, 1, async () => {
    const result = await provider.generateDataKey();
    checkWrapped(provider, result?.wrapped, 'health');
    checkDek(provider, result?.plaintext, 'health').fill(0);
  });
}
