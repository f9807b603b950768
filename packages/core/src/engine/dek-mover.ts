/**
 * Moves one wrapped DEK to the keyring's primary KEK, once per distinct DEK (a bounded cache from
 * old record to new, private to the `rewrap` call or shared by several). Server-side `rewrap`
 * where the primary's provider has one and the DEK is of the same provider; otherwise unwrap
 * with the provider that wrote it and `wrap` under the primary.
 */
import { encodeB64url } from '../base64url';
import { CmekConfigError, CmekError, CmekProviderError, CmekUnknownKekError } from '../errors';
import { type KekChannel, rewrap, unwrap, wrap } from '../kek-calls';
import type { Keyring } from '../keyring';
import { type DekRecord, encodeRecord } from '../record';
import type { MoveCache, MoveOutcome } from './rewrap-cache';

/** Errors that end the whole run instead of failing the values of one DEK. */
export function isFatal(error: CmekError): boolean {
  return error.retryable || error.code === 'CMEK_CONFIG' || error.code === 'CMEK_CLOSED';
}

/** One `rewrap` call's side of the cache: its keyring, its event listener, its counts. */
export class DekMover {
  /** Distinct DEKs this call moved (the KEK calls it made), and how. */
  serverSide = 0;
  unwrapWrap = 0;

  constructor(
    private readonly keyring: Keyring,
    private readonly kek: KekChannel,
    private readonly cache: MoveCache,
  ) {}

  get target(): string {
    return `${this.keyring.primary.providerId}/${this.keyring.primary.keyRef}`;
  }

  /** The new `kek` part for an old one; single flight per DEK across the calls sharing the cache. */
  async move(kekText: string, record: DekRecord): Promise<MoveOutcome> {
    for (;;) {
      const cached = this.cache.get(kekText);
      if (cached === undefined) return this.start(kekText, record);
      if (cached.keyring === this.keyring) return cached.outcome;
      const outcome = await cached.outcome;
      if (outcome.ok) return outcome;
      // Another keyring's failure (it may lack the old KEK) is not this one's: try with ours.
      if (this.cache.get(kekText) === cached) return this.start(kekText, record);
    }
  }

  private start(kekText: string, record: DekRecord): Promise<MoveOutcome> {
    const outcome = this.moveOnce(record).then(
      (text): MoveOutcome => ({ ok: true, kekText: text }),
      (error: unknown): MoveOutcome => {
        const typed = CmekError.isInstance(error)
          ? error
          : new CmekProviderError(record.providerId, 'rewrap failed (see cause)', { cause: error });
        // A fatal error is not remembered: the run ends, and the next one tries again.
        if (isFatal(typed)) this.cache.forget(kekText, outcome);
        return { ok: false, error: typed };
      },
    );
    this.cache.set(kekText, { keyring: this.keyring, outcome });
    return outcome;
  }

  private async moveOnce(record: DekRecord): Promise<string> {
    const primary = this.keyring.primary;
    const item = { wrapped: record.wrapped, keyRef: record.keyRef };
    if (record.providerId === primary.providerId && primary.rewrap !== undefined) {
      try {
        const moved = await rewrap(this.kek, primary, item)!;
        try {
          this.keyring.resolve(primary.providerId, moved.keyRef);
        } catch {
          throw new CmekProviderError(
            primary.providerId,
            `provider '${primary.providerId}' rewrapped a DEK to key reference '${moved.keyRef}', which the keyring does not hold`,
          );
        }
        this.serverSide++;
        return encodeB64url(encodeRecord(primary.providerId, moved.keyRef, moved.wrapped));
      } catch (error) {
        // The primary's service does not know the old key (two local key files, two Vault
        // servers): fall back to unwrap + wrap where the primary can wrap.
        if (!(CmekUnknownKekError.isInstance(error) && primary.wrap !== undefined)) throw error;
      }
    }
    const source = this.keyring.resolve(record.providerId, record.keyRef);
    if (primary.wrap === undefined) {
      throw new CmekConfigError(
        `the primary KEK provider '${primary.providerId}' has no wrap(), so it cannot take over DEKs of '${record.providerId}'; use a provider version that implements wrap or rewrap`,
      );
    }
    const dek = await unwrap(this.kek, source, item);
    try {
      const wrapped = await wrap(this.kek, primary, dek)!;
      this.unwrapWrap++;
      return encodeB64url(encodeRecord(primary.providerId, wrapped.keyRef, wrapped.wrapped));
    } finally {
      dek.fill(0);
    }
  }
}
