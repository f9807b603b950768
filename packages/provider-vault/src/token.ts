/** Where the provider's Vault token comes from: a static string, or a `tokenProvider` it can ask again. */
import { CmekConfigError, CmekError, CmekKekAccessDeniedError } from '@cmek/core';
import { describeFailure, mapVaultFailure, VaultRequestError } from './map-error';
import type { VaultTokenProvider } from './options';

export interface CurrentToken {
  /** `undefined`: the injected client's own token is used. */
  readonly token: string | undefined;
  /** Bumped on every refresh, so concurrent 403s trigger one refresh, not one each. */
  readonly generation: number;
}

export class TokenSource {
  private pending: Promise<string> | undefined;
  private generation = 0;

  constructor(
    private readonly staticToken: string | undefined,
    private readonly provider: VaultTokenProvider | undefined,
    private readonly keyRef: string,
  ) {}

  /** True when a 403 is worth one more try with a fresh token. */
  get refreshable(): boolean {
    return this.provider !== undefined;
  }

  /** The tokens known so far, to redact from error text. */
  known: string[] = [];

  async current(): Promise<CurrentToken> {
    if (this.provider === undefined) return { token: this.staticToken, generation: 0 };
    const generation = this.generation;
    this.pending ??= this.fetch();
    return { token: await this.pending, generation };
  }

  /** Asks the provider again, unless another call already did since `failed` was handed out. */
  async refresh(failed: CurrentToken): Promise<CurrentToken> {
    if (this.generation === failed.generation) {
      this.generation++;
      this.pending = this.fetch();
    }
    return this.current();
  }

  private fetch(): Promise<string> {
    const provider = this.provider as VaultTokenProvider;
    const attempt = (async () => {
      let token: unknown;
      try {
        token = await provider();
      } catch (error) {
        if (CmekError.isInstance(error)) throw error;
        const failure = describeFailure(error, this.known);
        // An AppRole / Kubernetes login through node-vault fails like any other Vault call.
        if (failure.status !== undefined || failure.code !== undefined) {
          throw mapVaultFailure(failure, { operation: 'login', keyRef: this.keyRef });
        }
        throw new CmekKekAccessDeniedError(
          `the tokenProvider of the Vault KEK provider for '${this.keyRef}' failed to return a token; see cause`,
          { cause: new VaultRequestError(failure) },
        );
      }
      if (typeof token !== 'string' || token.length === 0) {
        throw new CmekConfigError(
          'createVaultKekProvider: tokenProvider must return a non-empty string',
        );
      }
      if (!this.known.includes(token)) this.known.push(token);
      if (this.known.length > 8) this.known.shift();
      return token;
    })();
    // A failed fetch is not cached: the next call asks the provider again.
    attempt.catch(() => {
      if (this.pending === attempt) this.pending = undefined;
    });
    return attempt;
  }
}
