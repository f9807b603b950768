/** The `vault` KEK provider: Vault / OpenBao Transit through node-vault's generic `request`. */
import {
  CmekClosedError,
  CmekConfigError,
  CmekError,
  CmekInvalidInputError,
  CmekProviderError,
  CmekUnknownKekError,
  type GeneratedDataKey,
  type KekProvider,
  type WrappedDataKey,
} from '@cmek/core';
import { decodeDek, encodeCiphertext, parseCiphertext, type TransitCiphertext } from './ciphertext';
import { createNodeVaultClient, type VaultClient, type VaultRequestOptions } from './client';
import {
  batchResultsOf,
  describeFailure,
  type MapContext,
  mapVaultFailure,
  type TransitOperation,
  VAULT_PROVIDER_ID,
} from './map-error';
import {
  checkEndpoint,
  type ValidatedOptions,
  type VaultKekProviderOptions,
  validateOptions,
} from './options';
import { type Attempts, withRetry } from './retry';
import { type CurrentToken, TokenSource } from './token';

/** A `KekProvider` whose `providerId` is `vault` and whose `keyRef` is `<mount>/<keyName>`. */
export interface VaultKekProvider extends KekProvider {
  readonly providerId: 'vault';
  /** Opens a DEK written under this provider's Transit key; any other `keyRef` is `CmekUnknownKekError`. */
  unwrap(wrapped: Uint8Array, keyRef: string): Promise<Uint8Array>;
  /**
   * Opens many DEKs with Transit `batch_input` requests of `batchSize` items. All or nothing:
   * if any item fails, the call rejects with that item's error and returns no DEK.
   */
  unwrapMany(items: readonly WrappedDataKey[]): Promise<Uint8Array[]>;
  /** Transit `rewrap` to the key's newest version; the DEK never leaves Vault. */
  rewrap(wrapped: Uint8Array, keyRef: string): Promise<WrappedDataKey>;
  /** Transit `encrypt` of an existing DEK (moving DEKs from another provider); zeroes `dek`. */
  wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }>;
  /** Marks the provider closed; later calls reject with `CmekClosedError`. */
  close(): Promise<void>;
}

type Body = Record<string, unknown>;

function record(value: unknown): Body | undefined {
  return typeof value === 'object' && value !== null ? (value as Body) : undefined;
}

function dataOf(body: unknown): Body {
  return record(record(body)?.data) ?? {};
}

function requireBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength === 0) {
    throw new CmekInvalidInputError(`${what} must be a non-empty Uint8Array`);
  }
  return value;
}

function malformed(operation: TransitOperation, keyRef: string, field: string): CmekProviderError {
  return new CmekProviderError(
    VAULT_PROVIDER_ID,
    `Vault Transit ${operation} with key '${keyRef}' answered without a valid ${field}`,
  );
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Batches of one `unwrapMany` sent at the same time. */
const BATCH_CONCURRENCY = 4;

class VaultTransit {
  private closed = false;

  constructor(
    private readonly client: VaultClient,
    private readonly tokens: TokenSource,
    private readonly options: ValidatedOptions,
  ) {}

  private path(operation: 'datakey/plaintext' | 'decrypt' | 'rewrap' | 'encrypt'): string {
    return `/${this.options.mount}/${operation}/${this.options.keyName}`;
  }

  checkOpen(): void {
    if (this.closed) throw new CmekClosedError('this Vault KEK provider has been closed');
  }

  close(): void {
    this.closed = true;
  }

  /**
   * One POST: transient failures retried with backoff (the `retry` option), and once more with a
   * fresh token after a 403 when a tokenProvider is set.
   */
  async post(path: string, json: Body, context: MapContext): Promise<unknown> {
    const attempts: Attempts = { count: 0 };
    try {
      return await this.postRaw(path, json, attempts);
    } catch (error) {
      throw this.map(error, { ...context, attempts: attempts.count });
    }
  }

  /** {@link post} that rejects with what the client threw (the caller maps it). */
  async postRaw(path: string, json: Body, attempts: Attempts): Promise<unknown> {
    this.checkOpen();
    const token = await this.tokens.current();
    try {
      return await this.sendRetrying(path, json, token, attempts);
    } catch (error) {
      if (!this.tokens.refreshable || describeFailure(error, []).status !== 403) throw error;
      return this.sendRetrying(path, json, await this.tokens.refresh(token), attempts);
    }
  }

  /** The cmek error for what the client threw (a cmek error, e.g. from the tokenProvider, as is). */
  map(error: unknown, context: MapContext): CmekError {
    if (CmekError.isInstance(error)) return error;
    return mapVaultFailure(describeFailure(error, this.tokens.known), context);
  }

  private sendRetrying(
    path: string,
    json: Body,
    token: CurrentToken,
    attempts: Attempts,
  ): Promise<unknown> {
    const attempt = async (): Promise<unknown> => {
      // A provider closed while a retry waited sends nothing more (CmekClosedError ends the retries).
      this.checkOpen();
      return this.send(path, json, token);
    };
    return withRetry(this.options.retry, attempt, (error) => describeFailure(error, []), attempts);
  }

  private send(path: string, json: Body, token: CurrentToken): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (token.token !== undefined) headers['X-Vault-Token'] = token.token;
    if (this.options.namespace !== undefined) headers['X-Vault-Namespace'] = this.options.namespace;
    const request: VaultRequestOptions = {
      path,
      method: 'POST',
      json,
      headers,
      timeout: this.options.requestTimeoutMs,
    };
    return this.client.request(request);
  }

  async generateDataKey(): Promise<GeneratedDataKey> {
    const { keyRef } = this.options;
    const body = await this.post(
      this.path('datakey/plaintext'),
      { bits: 256 },
      {
        operation: 'datakey',
        keyRef,
      },
    );
    const data = dataOf(body);
    const plaintext = decodeDek(data.plaintext);
    if (plaintext === undefined) throw malformed('datakey', keyRef, '32-byte plaintext');
    const wrapped = encodeCiphertext(data.ciphertext);
    if (wrapped === undefined) {
      plaintext.fill(0);
      throw malformed('datakey', keyRef, 'ciphertext');
    }
    return { plaintext, wrapped };
  }

  private own(wrapped: unknown, keyRef: unknown): TransitCiphertext {
    requireBytes(wrapped, 'the wrapped DEK');
    if (keyRef !== this.options.keyRef) {
      throw new CmekUnknownKekError(VAULT_PROVIDER_ID, String(keyRef));
    }
    return parseCiphertext(wrapped as Uint8Array);
  }

  async unwrap(wrapped: Uint8Array, keyRef: string): Promise<Uint8Array> {
    this.checkOpen();
    const ciphertext = this.own(wrapped, keyRef);
    const body = await this.post(
      this.path('decrypt'),
      { ciphertext: ciphertext.text },
      {
        operation: 'decrypt',
        keyRef: this.options.keyRef,
        version: ciphertext.version,
      },
    );
    const dek = decodeDek(dataOf(body).plaintext);
    if (dek === undefined) throw malformed('decrypt', this.options.keyRef, '32-byte plaintext');
    return dek;
  }

  async unwrapMany(items: readonly WrappedDataKey[]): Promise<Uint8Array[]> {
    this.checkOpen();
    if (!Array.isArray(items))
      throw new CmekInvalidInputError('unwrapMany needs an array of items');
    const parsed = items.map((item, i) => {
      const entry = record(item);
      try {
        return this.own(entry?.wrapped, entry?.keyRef);
      } catch (error) {
        if (error instanceof CmekInvalidInputError) {
          throw new CmekInvalidInputError(`unwrapMany item ${i}: ${error.message}`);
        }
        throw error;
      }
    });
    // Each distinct ciphertext is sent once; every position still gets its own copy of the DEK.
    const distinct = [...new Set(parsed.map((c) => c.text))];
    const versions = new Map(parsed.map((c) => [c.text, c.version]));
    const opened = new Map<string, Uint8Array>();
    const batches = chunks(distinct, this.options.batchSize);
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < batches.length) {
          const batch = batches[next++] as string[];
          const deks = await this.decryptBatch(batch, versions, distinct.length);
          for (const [i, text] of batch.entries()) opened.set(text, deks[i] as Uint8Array);
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(BATCH_CONCURRENCY, batches.length) }, worker),
      );
      return parsed.map((c) => (opened.get(c.text) as Uint8Array).slice());
    } finally {
      for (const dek of opened.values()) dek.fill(0);
    }
  }

  private async decryptBatch(
    batch: readonly string[],
    versions: ReadonlyMap<string, number>,
    total: number,
  ): Promise<Uint8Array[]> {
    const { keyRef } = this.options;
    const attempts: Attempts = { count: 0 };
    let results: unknown[] | undefined;
    try {
      const body = await this.postRaw(
        this.path('decrypt'),
        { batch_input: batch.map((ciphertext) => ({ ciphertext })) },
        attempts,
      );
      const data = dataOf(body);
      results = Array.isArray(data.batch_results) ? data.batch_results : undefined;
    } catch (error) {
      // Vault answers 400 with every item's result when any item fails: report that item.
      results = batchResultsOf(error);
      if (results === undefined || results.length !== batch.length) {
        throw this.map(error, { operation: 'decrypt', keyRef, attempts: attempts.count });
      }
    }
    if (results === undefined || results.length !== batch.length) {
      throw malformed('decrypt', keyRef, `batch_results of ${batch.length} items`);
    }
    const deks: Uint8Array[] = [];
    try {
      for (const [i, result] of results.entries()) {
        const item = record(result);
        const text = batch[i] as string;
        const failed = item?.error;
        if (typeof failed === 'string' && failed.length > 0) {
          throw mapVaultFailure(
            { status: 400, code: undefined, errors: [failed], message: undefined },
            {
              operation: 'decrypt',
              keyRef,
              version: versions.get(text),
              item: `one of ${total} wrapped DEKs in unwrapMany`,
            },
          );
        }
        const dek = decodeDek(item?.plaintext);
        if (dek === undefined)
          throw malformed('decrypt', keyRef, '32-byte plaintext in a batch item');
        deks.push(dek);
      }
      return deks;
    } catch (error) {
      for (const dek of deks) dek.fill(0);
      throw error;
    }
  }

  async rewrap(wrapped: Uint8Array, keyRef: string): Promise<WrappedDataKey> {
    this.checkOpen();
    const ciphertext = this.own(wrapped, keyRef);
    const body = await this.post(
      this.path('rewrap'),
      { ciphertext: ciphertext.text },
      {
        operation: 'rewrap',
        keyRef: this.options.keyRef,
        version: ciphertext.version,
      },
    );
    const moved = encodeCiphertext(dataOf(body).ciphertext);
    if (moved === undefined) throw malformed('rewrap', this.options.keyRef, 'ciphertext');
    return { wrapped: moved, keyRef: this.options.keyRef };
  }

  async wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }> {
    try {
      this.checkOpen();
      if (!(dek instanceof Uint8Array) || dek.byteLength !== 32) {
        throw new CmekInvalidInputError('wrap needs a 32-byte DEK (a Uint8Array)');
      }
      const plaintext = Buffer.from(dek.buffer, dek.byteOffset, dek.byteLength).toString('base64');
      const body = await this.post(
        this.path('encrypt'),
        { plaintext },
        {
          operation: 'encrypt',
          keyRef: this.options.keyRef,
        },
      );
      const wrapped = encodeCiphertext(dataOf(body).ciphertext);
      if (wrapped === undefined) throw malformed('encrypt', this.options.keyRef, 'ciphertext');
      return { wrapped };
    } finally {
      // The core hands the provider its own copy of the DEK; nothing else needs it now.
      if (dek instanceof Uint8Array) dek.fill(0);
    }
  }
}

function resolveClient(
  options: VaultKekProviderOptions,
  namespace: string | undefined,
): VaultClient {
  if (options.client !== undefined) return options.client;
  const endpoint = options.endpoint ?? process.env.VAULT_ADDR;
  if (endpoint === undefined || endpoint.length === 0) {
    throw new CmekConfigError(
      'createVaultKekProvider: set endpoint (or VAULT_ADDR), or pass a client',
    );
  }
  if (options.endpoint === undefined) checkEndpoint(endpoint, 'VAULT_ADDR');
  return createNodeVaultClient(endpoint, namespace);
}

function resolveTokens(options: VaultKekProviderOptions, keyRef: string): TokenSource {
  if (options.tokenProvider !== undefined) {
    return new TokenSource(undefined, options.tokenProvider, keyRef);
  }
  const token =
    options.token ?? (options.client === undefined ? process.env.VAULT_TOKEN : undefined);
  if (options.client === undefined && (token === undefined || token.length === 0)) {
    throw new CmekConfigError(
      'createVaultKekProvider: set token or tokenProvider (or VAULT_TOKEN), or pass a client that has a token',
    );
  }
  const source = new TokenSource(token, undefined, keyRef);
  if (token !== undefined) source.known.push(token);
  return source;
}

/**
 * The Vault / OpenBao Transit provider. Every request is a node-vault `request` on the Transit
 * paths of `mount` for `keyName`, with the token and namespace in its headers.
 */
export function createVaultKekProvider(options: VaultKekProviderOptions): VaultKekProvider {
  const validated = validateOptions(options);
  const transit = new VaultTransit(
    resolveClient(options, validated.namespace),
    resolveTokens(options, validated.keyRef),
    validated,
  );
  return {
    specificationVersion: 'v1',
    providerId: VAULT_PROVIDER_ID,
    keyRef: validated.keyRef,
    generateDataKey: () => transit.generateDataKey(),
    unwrap: (wrapped, keyRef) => transit.unwrap(wrapped, keyRef),
    unwrapMany: (items) => transit.unwrapMany(items),
    rewrap: (wrapped, keyRef) => transit.rewrap(wrapped, keyRef),
    wrap: (dek) => transit.wrap(dek),
    async close(): Promise<void> {
      transit.close();
    },
  };
}
