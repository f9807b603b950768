/**
 * The envelope and keyrings of a `backfill`, `rotate` or `verify`: the config's envelope (a
 * tenant envelope for `--tenant`) or one over the config's keyring, and what closes them.
 */
import { type CmekEventListener, createEnvelope, type Envelope, type Keyring } from '@cmek/core';
import {
  envelopeOf,
  isTenantEnvelope,
  keyringIfAny,
  keyringOf,
  type LoadedConfig,
  tenantEnvelopeOf,
} from '../config';

export interface CommandEnvelope {
  /** What `backfill` encrypts and `verify` reads with. */
  readonly envelope: Envelope;
  /** The keyring of the blind-index key: the config's, else the tenant envelope's default one. */
  readonly indexKeyring: Keyring | undefined;
  /** The keyring a `rotate` moves to: the tenant's with `--tenant`, else the config's. */
  rotateKeyring(): Promise<Keyring>;
  close(): Promise<void>;
}

const defaultRingOf = (envelope: Envelope): Keyring | undefined => {
  try {
    return envelope.keyring;
  } catch {
    // A tenant envelope without defaultKek: each tenant has its own keyring.
    return undefined;
  }
};

export async function commandEnvelope(
  loaded: LoadedConfig,
  onEvent: CmekEventListener,
  tenant: string | undefined,
): Promise<CommandEnvelope> {
  const configured = await envelopeOf(loaded, { onEvent });
  try {
    const tenantEnvelope = tenant === undefined ? undefined : tenantEnvelopeOf(loaded, configured);
    const keyring = await keyringIfAny(loaded);
    if (configured === undefined) {
      // The envelope owns the config's keyring: closing it closes the keyring.
      const envelope = createEnvelope({ kek: keyring ?? (await keyringOf(loaded)), onEvent });
      return {
        envelope,
        indexKeyring: envelope.keyring,
        rotateKeyring: async () => envelope.keyring,
        close: () => envelope.close(),
      };
    }
    const { envelope, owned } = configured;
    return {
      envelope,
      indexKeyring:
        keyring ?? (isTenantEnvelope(envelope) ? defaultRingOf(envelope) : envelope.keyring),
      rotateKeyring: async () =>
        tenantEnvelope !== undefined && tenant !== undefined
          ? tenantEnvelope.keyringFor(tenant)
          : (keyring ?? keyringOf(loaded)),
      async close() {
        if (owned) await envelope.close();
        await keyring?.close();
      },
    };
  } catch (error) {
    if (configured?.owned === true) await configured.envelope.close();
    throw error;
  }
}
