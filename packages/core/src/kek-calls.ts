/**
 * Every call into a provider goes through here: the core, not the provider, enforces the
 * invariants (a DEK is 32 bytes, wrapped bytes are 1..8192, a keyRef is present), maps anything
 * unexpected to a typed error, and reports the call as an event.
 */
import { CmekError, type CmekErrorCode, CmekProviderError } from './errors';
import type { CmekEvent, KekOperation } from './events';
import { DEK_LENGTH } from './fernet';
import type { KekProvider, WrappedDataKey } from './provider';
import { MAX_KEY_REF_BYTES, MAX_WRAPPED_BYTES } from './record';

export type Emit = (event: CmekEvent) => void;

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
  emit: Emit,
  provider: KekProvider,
  operation: KekOperation,
  keyRef: string,
  count: number,
  run: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const report = (errorCode?: CmekErrorCode): void =>
    emit({
      type: 'kek-call',
      operation,
      providerId: provider.providerId,
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
          provider.providerId,
          `provider '${provider.providerId}' failed in ${operation} with an unexpected error (see cause)`,
          { cause: error },
        );
    report(typed.code);
    throw typed;
  }
}

export function generateDataKey(emit: Emit, provider: KekProvider): Promise<OwnedDataKey> {
  return call(emit, provider, 'generateDataKey', provider.keyRef, 1, async () => {
    const result = await provider.generateDataKey();
    const wrapped = checkWrapped(provider, result?.wrapped, 'generateDataKey');
    return { dek: checkDek(provider, result?.plaintext, 'generateDataKey'), wrapped };
  });
}

export function unwrap(emit: Emit, provider: KekProvider, item: WrappedDataKey): Promise<Buffer> {
  return call(emit, provider, 'unwrap', item.keyRef, 1, async () =>
    checkDek(provider, await provider.unwrap(item.wrapped, item.keyRef), 'unwrap'),
  );
}

/** Unwraps several DEKs of one provider: one `unwrapMany` call where the provider has it. */
export function unwrapMany(
  emit: Emit,
  provider: KekProvider,
  items: readonly WrappedDataKey[],
): Promise<Buffer[]> {
  const many = provider.unwrapMany;
  if (items.length === 1 || many === undefined) {
    return Promise.all(items.map((item) => unwrap(emit, provider, item)));
  }
  return call(emit, provider, 'unwrapMany', provider.keyRef, items.length, async () => {
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
  emit: Emit,
  provider: KekProvider,
  item: WrappedDataKey,
): Promise<WrappedDataKey> | undefined {
  const fn = provider.rewrap;
  if (fn === undefined) return undefined;
  return call(emit, provider, 'rewrap', item.keyRef, 1, async () => {
    const result = await fn.call(provider, item.wrapped, item.keyRef);
    return {
      wrapped: checkWrapped(provider, result?.wrapped, 'rewrap'),
      keyRef: checkKeyRef(provider, result?.keyRef),
    };
  });
}

/** Wraps an existing DEK under the provider's KEK; `undefined` when the provider has no `wrap`. */
export function wrap(
  emit: Emit,
  provider: KekProvider,
  dek: Uint8Array,
): Promise<WrappedDataKey> | undefined {
  const fn = provider.wrap;
  if (fn === undefined) return undefined;
  if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
    throw new CmekProviderError(provider.providerId, `a DEK to wrap must be ${DEK_LENGTH} bytes`);
  }
  return call(emit, provider, 'wrap', provider.keyRef, 1, async () => {
    // The provider gets its own copy: it may zero or keep it without touching the caller's.
    const result = await fn.call(provider, ownBytes(dek));
    return {
      wrapped: checkWrapped(provider, result?.wrapped, 'wrap'),
      keyRef: checkKeyRef(provider, provider.keyRef),
    };
  });
}
