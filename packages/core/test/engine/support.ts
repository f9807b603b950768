/**
 * Unit-test doubles for the engine: an in-memory RowStore with hooks (a concurrent writer, slow
 * writes, a crash) and KEK providers of one simulated key service (AES-256-GCM under in-memory
 * KEKs) that count their calls. The real stores and providers are tested in their packages and in
 * the CLI's integration tests.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  CmekDecryptionError,
  CmekUnknownKekError,
  type Cursor,
  type KekProvider,
  type Row,
  type RowCounter,
  type RowStore,
} from '../../src/index';

export interface Calls {
  generateDataKey: number;
  unwrap: number;
  wrap: number;
  rewrap: number;
}

/** A key service holding several KEKs by key reference, as Vault or KMS would. */
export class KeyService {
  readonly keys = new Map<string, Buffer>();

  seal(keyRef: string, dek: Uint8Array): Buffer {
    const kek = this.keys.get(keyRef)!;
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kek, nonce);
    const body = Buffer.concat([cipher.update(dek), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  }

  open(providerId: string, keyRef: string, wrapped: Uint8Array): Buffer {
    const kek = this.keys.get(keyRef);
    if (kek === undefined) throw new CmekUnknownKekError(providerId, keyRef);
    const bytes = Buffer.from(wrapped);
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(44));
      return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
    } catch {
      throw new CmekDecryptionError();
    }
  }
}

export type TestProvider = KekProvider & { readonly calls: Calls };

export function testProvider(options: {
  keyRef: string;
  providerId?: string;
  service?: KeyService;
  wrap?: boolean;
  rewrap?: boolean;
}): TestProvider {
  const service = options.service ?? new KeyService();
  service.keys.set(options.keyRef, randomBytes(32));
  const providerId = options.providerId ?? 'test';
  const { keyRef } = options;
  const calls: Calls = { generateDataKey: 0, unwrap: 0, wrap: 0, rewrap: 0 };
  return {
    specificationVersion: 'v1',
    providerId,
    keyRef,
    calls,
    async generateDataKey() {
      calls.generateDataKey++;
      const dek = randomBytes(32);
      return { plaintext: dek, wrapped: service.seal(keyRef, dek) };
    },
    async unwrap(wrapped, ref) {
      calls.unwrap++;
      // Like a local key file: it opens only what its own key wrapped.
      if (ref !== keyRef) throw new CmekUnknownKekError(providerId, ref);
      return service.open(providerId, ref, wrapped);
    },
    ...(options.wrap
      ? {
          async wrap(dek: Uint8Array) {
            calls.wrap++;
            return { wrapped: service.seal(keyRef, dek) };
          },
        }
      : {}),
    ...(options.rewrap
      ? {
          async rewrap(wrapped: Uint8Array, ref: string) {
            calls.rewrap++;
            const dek = service.open(providerId, ref, wrapped);
            return { wrapped: service.seal(keyRef, dek), keyRef };
          },
        }
      : {}),
  };
}

type Values = Record<string, string | null>;

/** An in-memory table ordered by a numeric primary key. */
export class MemoryStore implements RowStore {
  readonly rows = new Map<number, Values>();
  casCalls = 0;
  readonly scans: (Cursor | undefined)[] = [];
  /** Runs before each compare-and-set, e.g. to play a concurrent writer. */
  beforeCas: ((id: number, field: string) => void) | undefined;
  /** Throws from the n-th scan (1-based): a crash. */
  failScanAt: number | undefined;
  casDelayMs = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    readonly name: string,
    readonly fields: readonly string[],
  ) {}

  contextFor(field: string): Record<string, string> {
    return { field: `${this.name}.${field}` };
  }

  async scan(after: Cursor | undefined, limit: number): Promise<Row[]> {
    this.scans.push(after);
    if (this.failScanAt !== undefined && this.scans.length >= this.failScanAt) {
      throw new Error('simulated crash');
    }
    const ids = [...this.rows.keys()]
      .filter((id) => after === undefined || id > Number(after))
      .sort((a, b) => a - b)
      .slice(0, limit);
    return ids.map((id) => ({ id, values: { ...this.rows.get(id)! } }));
  }

  async compareAndSet(id: Cursor, field: string, expected: string, next: string) {
    this.casCalls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.casDelayMs > 0) await new Promise((r) => setTimeout(r, this.casDelayMs));
      this.beforeCas?.(Number(id), field);
      const row = this.rows.get(Number(id));
      if (row === undefined || row[field] !== expected) return false;
      row[field] = next;
      return true;
    } finally {
      this.inFlight--;
    }
  }
}

/** A `MemoryStore` with the optional `count()`: its row count, and how often it was asked. */
export class CountedMemoryStore extends MemoryStore implements RowCounter {
  countCalls = 0;
  /** What `count()` does instead of counting: throw, or resolve to this value. */
  countResult: { error: Error } | { value: number } | undefined;

  async count(): Promise<number> {
    this.countCalls++;
    const result = this.countResult;
    if (result !== undefined && 'error' in result) throw result.error;
    return result?.value ?? this.rows.size;
  }
}

/** `n` rows with ids 1..n: `secret` = `s<id>`, `note` = `n<id>` or null for every 10th row. */
export function seed(store: MemoryStore, n: number): void {
  for (let id = 1; id <= n; id++) {
    store.rows.set(id, { secret: `s${id}`, note: id % 10 === 0 ? null : `n${id}` });
  }
}
