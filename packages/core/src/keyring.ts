import { CmekConfigError, CmekUnknownKekError } from './errors';
import { checkKeyRef } from './kek-calls';
import type { KekProvider } from './provider';
import { PROVIDER_ID } from './record';

export interface KeyringOptions {
  /** The KEK new values are written under (and read with). */
  primary: KekProvider;
  /** KEKs that are only read with: a key being rotated out, or the old provider during a move. */
  decryptOnly?: readonly KekProvider[];
}

export interface Keyring {
  readonly primary: KekProvider;
  readonly providers: readonly KekProvider[];
  /** The provider for a token's provider id and key reference; throws `CmekUnknownKekError`. */
  resolve(providerId: string, keyRef: string): KekProvider;
  /** Closes every provider in the ring once. */
  close(): Promise<void>;
}

const KEYRING = Symbol.for('cmek.keyring');

function validateProvider(provider: unknown, role: string): KekProvider {
  const p = provider as Partial<KekProvider> | null;
  if (typeof p !== 'object' || p === null)
    throw new CmekConfigError(`${role} must be a KEK provider`);
  if (p.specificationVersion !== 'v1') {
    throw new CmekConfigError(
      `${role} implements KEK provider specification '${String(p.specificationVersion)}'; this core speaks 'v1'`,
    );
  }
  if (typeof p.providerId !== 'string' || !PROVIDER_ID.test(p.providerId)) {
    throw new CmekConfigError(`${role} has a providerId that is not 1-32 characters of [a-z0-9-]`);
  }
  if (typeof p.generateDataKey !== 'function' || typeof p.unwrap !== 'function') {
    throw new CmekConfigError(`${role} ('${p.providerId}') lacks generateDataKey or unwrap`);
  }
  try {
    checkKeyRef(p as KekProvider, p.keyRef);
  } catch (error) {
    throw new CmekConfigError(`${role} ('${p.providerId}') has no valid keyRef`, { cause: error });
  }
  return p as KekProvider;
}

const routeOf = (providerId: string, keyRef: string): string => `${providerId}\u0000${keyRef}`;

/** Writes under `primary`; reads route by the token's provider id and key reference. */
export function createKeyring(options: KeyringOptions): Keyring {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('createKeyring needs { primary, decryptOnly? }');
  }
  const primary = validateProvider(options.primary, 'keyring primary');
  const decryptOnly = options.decryptOnly ?? [];
  if (!Array.isArray(decryptOnly))
    throw new CmekConfigError('keyring decryptOnly must be an array of providers');
  const routes = new Map<string, KekProvider>();
  for (const [index, candidate] of [primary, ...decryptOnly].entries()) {
    const provider =
      index === 0 ? primary : validateProvider(candidate, `keyring decryptOnly[${index - 1}]`);
    const route = routeOf(provider.providerId, provider.keyRef);
    const existing = routes.get(route);
    if (existing !== undefined && existing !== provider) {
      throw new CmekConfigError(
        `two different providers in the keyring answer for '${provider.providerId}' key '${provider.keyRef}'`,
      );
    }
    routes.set(route, provider);
  }
  const providers = [...new Set(routes.values())];
  let closing: Promise<void> | undefined;
  const keyring: Keyring = {
    primary,
    providers,
    resolve(providerId, keyRef) {
      const provider = routes.get(routeOf(providerId, keyRef));
      if (provider === undefined) throw new CmekUnknownKekError(providerId, keyRef);
      return provider;
    },
    close() {
      closing ??= Promise.all(providers.map((p) => p.close?.())).then(() => undefined);
      return closing;
    },
  };
  Object.defineProperty(keyring, KEYRING, { value: true });
  return keyring;
}

export function isKeyring(value: unknown): value is Keyring {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[KEYRING] === true
  );
}

/**
 * The same routes, but `close()` closes nothing: a keyring an envelope uses without owning its
 * providers (a tenant envelope's inner envelopes share the default KEK and the resolved ones).
 */
export function borrowKeyring(keyring: Keyring): Keyring {
  const borrowed: Keyring = {
    primary: keyring.primary,
    providers: keyring.providers,
    resolve: (providerId, keyRef) => keyring.resolve(providerId, keyRef),
    close: async () => undefined,
  };
  Object.defineProperty(borrowed, KEYRING, { value: true });
  return borrowed;
}
