/** The contract every KEK provider implements (specification version 1). */

export interface GeneratedDataKey {
  /** The 32-byte DEK. The core zeroes it when it is evicted from the cache. */
  readonly plaintext: Uint8Array;
  /** The DEK wrapped under the provider's KEK; stored in every token it encrypts. */
  readonly wrapped: Uint8Array;
}

export interface WrappedDataKey {
  readonly wrapped: Uint8Array;
  readonly keyRef: string;
}

export interface KekProvider {
  readonly specificationVersion: 'v1';
  /** `local`, `vault`, `aws-kms`, or a third party's id: `[a-z0-9-]{1,32}`. */
  readonly providerId: string;
  /** The KEK that new DEKs are wrapped under; stored in every token (not a secret). */
  readonly keyRef: string;
  /** A fresh 32-byte DEK and its wrapped form. */
  generateDataKey(): Promise<GeneratedDataKey>;
  /** Opens a wrapped DEK written under `keyRef`. */
  unwrap(wrapped: Uint8Array, keyRef: string): Promise<Uint8Array>;
  /** Opens several wrapped DEKs in as few service calls as the provider can; results in order. */
  unwrapMany?(items: readonly WrappedDataKey[]): Promise<Uint8Array[]>;
  /** Moves a wrapped DEK to this provider's current KEK without the DEK leaving the service. */
  rewrap?(wrapped: Uint8Array, keyRef: string): Promise<WrappedDataKey>;
  /**
   * Wraps an existing 32-byte DEK under this provider's KEK (`keyRef`): what the rewrap engine
   * uses to move a DEK opened by another provider (e.g. `local` to `aws-kms`, KMS `Encrypt`).
   * Optional; a primary without it can only receive DEKs through its own `rewrap`.
   */
  wrap?(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }>;
  /** Releases connections and zeroes key material; the provider is unusable afterwards. */
  close?(): Promise<void>;
}
