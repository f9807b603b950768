/**
 * A test config whose KEKs count their own calls: `memoryKekProvider`s (from fixed KEK bytes, so
 * values survive from one command to the next) behind a wrapper that also counts the DEKs each
 * call handles. The providers of the latest command are kept on `globalThis` under the fixture's
 * `tag`, for the test to compare with the CLI's summary: an independent count of the KEK calls.
 *
 * The store is a better-sqlite3 table `(id, secret, note[, secret_bidx])`; with `blindIndex` it
 * declares `secret_bidx` as the blind index of `secret`, and the config gives the indexer
 * (`loadBlindIndexes` of `indexKey`, through the command's keyring and listener).
 */
import {
  blindIndexesOption,
  type CasWrite,
  CmekKekUnavailableError,
  createKeyring,
  type KekProvider,
  loadBlindIndexes,
  type Row,
  type RowStore,
} from '@cmek/core';
import { type MemoryKekProvider, memoryKekProvider } from '@cmek/test-suite';
import Database from 'better-sqlite3';
import { defineConfig } from '../../src/index';

export interface CountedFixture {
  /** Where the providers of the latest command are kept (`countedKeks(tag)`). */
  readonly tag: string;
  readonly file: string;
  readonly table: string;
  /** Hex of 32 bytes: the primary KEK; `old`: a decrypt-only one. */
  readonly primary: string;
  readonly old?: string;
  /** `secret_bidx` is the blind index of `secret`; `indexKey` the stored index key. */
  readonly blindIndex?: boolean;
  readonly indexKey?: string;
  /** Every call of the primary fails: `unavailable` (retryable) or `broken` (a plain Error). */
  readonly fail?: 'unavailable' | 'broken';
}

/** A provider's own count: calls per method (failed ones included), DEKs of its successful calls. */
export interface CountedKek {
  readonly memory: MemoryKekProvider;
  deks: number;
}

type Registry = Map<string, CountedKek[]>;
const registry = (): Registry => {
  const g = globalThis as { __cmekCountedKeks?: Registry };
  g.__cmekCountedKeks ??= new Map();
  return g.__cmekCountedKeks;
};

/** The providers of the latest command run with the fixture `tag` (primary first). */
export function countedKeks(tag: string): CountedKek[] {
  return registry().get(tag) ?? [];
}

export const kekBytes = (hex: string): Buffer => Buffer.from(hex, 'hex');

/** A memory provider over `hex` whose successful calls also count their DEKs. */
export function countedProvider(hex: string, providerId: string): [KekProvider, CountedKek] {
  const memory = memoryKekProvider({ kek: kekBytes(hex), providerId });
  const counted: CountedKek = { memory, deks: 0 };
  // Counted after the call returns: a failed call handled no DEK.
  const provider: KekProvider = {
    specificationVersion: memory.specificationVersion,
    providerId: memory.providerId,
    keyRef: memory.keyRef,
    async generateDataKey() {
      const result = await memory.generateDataKey();
      counted.deks += 1;
      return result;
    },
    async unwrap(wrapped, keyRef) {
      const result = await memory.unwrap(wrapped, keyRef);
      counted.deks += 1;
      return result;
    },
    async unwrapMany(items) {
      const result = await memory.unwrapMany!(items);
      counted.deks += items.length;
      return result;
    },
    async wrap(dek) {
      const result = await memory.wrap!(dek);
      counted.deks += 1;
      return result;
    },
    close: () => memory.close(),
  };
  return [provider, counted];
}

/** The fixture's table, read and written with better-sqlite3; `blindIndexes` when asked. */
function tableStore(fixture: CountedFixture): RowStore & { close(): void } {
  const { table } = fixture;
  const db = new Database(fixture.file);
  db.pragma('busy_timeout = 10000');
  const index = fixture.blindIndex === true;
  const select = `SELECT id, secret, note${index ? ', secret_bidx' : ''} FROM ${table}`;
  const first = db.prepare(`${select} ORDER BY id LIMIT ?`);
  const after = db.prepare(`${select} WHERE id > ? ORDER BY id LIMIT ?`);
  const cas = (w: CasWrite): boolean => {
    const bidx = w.field === 'secret' && w.indexes !== undefined;
    const set = bidx ? `${w.field} = ?, secret_bidx = ?` : `${w.field} = ?`;
    const values = bidx ? [w.next, w.indexes!.secret_bidx ?? null] : [w.next];
    const sql = `UPDATE ${table} SET ${set} WHERE id = ? AND ${w.field} = ?`;
    return db.prepare(sql).run(...values, w.id, w.expected).changes === 1;
  };
  return {
    name: table,
    fields: ['secret', 'note'],
    contextFor: (field) => ({ field: `${table}.${field}` }),
    ...(index
      ? { blindIndexes: { secret: blindIndexesOption({ column: 'secret_bidx' }, 'secret') } }
      : {}),
    async scan(cursor, limit): Promise<Row[]> {
      const rows = (cursor === undefined ? first.all(limit) : after.all(cursor, limit)) as Record<
        string,
        string | number | null
      >[];
      return rows.map((r) => ({
        id: r.id as number,
        values: { secret: r.secret as string | null, note: r.note as string | null },
        ...(index ? { indexes: { secret_bidx: r.secret_bidx as string | null } } : {}),
      }));
    },
    async compareAndSet(id, field, expected, next, indexes) {
      return cas({ id, field, expected, next, ...(indexes ? { indexes } : {}) });
    },
    close: () => db.close(),
  };
}

export function makeCountedConfig(fixture: CountedFixture) {
  let store: ReturnType<typeof tableStore> | undefined;
  return defineConfig({
    keyring: () => {
      const [primary, counted] = countedProvider(fixture.primary, 'memory');
      if (fixture.fail !== undefined) {
        counted.memory.failWith =
          fixture.fail === 'unavailable'
            ? new CmekKekUnavailableError('the test KEK is down')
            : new Error('the test KEK is broken');
      }
      const olds = fixture.old === undefined ? [] : [countedProvider(fixture.old, 'memory')];
      registry().set(fixture.tag, [counted, ...olds.map(([, c]) => c)]);
      return createKeyring({ primary, decryptOnly: olds.map(([p]) => p) });
    },
    stores: () => {
      store = tableStore(fixture);
      return [store];
    },
    ...(fixture.indexKey === undefined
      ? {}
      : {
          indexer: ({ keyring, onEvent }) =>
            loadBlindIndexes({ keys: [fixture.indexKey!], kek: keyring, onEvent }),
        }),
    close: () => {
      store?.close();
      store = undefined;
    },
  });
}

/** The text of a `cmek.config.ts` calling `makeCountedConfig(fixture)`. */
export function countedConfigSource(fixture: CountedFixture): string {
  const self = new URL(import.meta.url).pathname;
  return `import { makeCountedConfig } from ${JSON.stringify(self)};\nexport default makeCountedConfig(${JSON.stringify(fixture)});\n`;
}
