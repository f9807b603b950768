/**
 * A tiny "ORM adapter" over a Map, encrypting two fields with a real envelope: enough to run the
 * adapter conformance suite against, to test the suite's group switches.
 */
import {
  type BlindIndexer,
  blindIndexLabel,
  CmekDecryptionError,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  type EncryptionContext,
  loadBlindIndexes,
} from '@cmek/core';
import {
  type AdapterHarness,
  type AdapterSession,
  type FieldValues,
  memoryKekProvider,
  type RowId,
} from '../src/index';

export interface MemoryAdapter extends AdapterHarness {
  /** How many times the suite called each session method. */
  readonly calls: Record<string, number>;
}

const FIELDS = ['secret', 'note'] as const;
const INDEXED = 'token';
const INDEX = { column: 'token_bidx', normalize: 'trim' } as const;

/**
 * `blindIndex`: `true` adds the indexed field `token` (column `token_bidx`, unique); the other
 * values plant one bug each for the suite to find.
 */
export type MemoryBlindIndex = boolean | 'stale-on-update' | 'no-unique' | 'plaintext-index';

export function memoryAdapter(options: { blindIndex?: MemoryBlindIndex } = {}): MemoryAdapter {
  const bug = options.blindIndex ?? false;
  const calls: Record<string, number> = {};
  const count = (method: string): void => {
    calls[method] = (calls[method] ?? 0) + 1;
  };
  return {
    calls,
    blindIndex: bug !== false,
    async setup(): Promise<AdapterSession> {
      const kek = memoryKekProvider();
      const envelope = createEnvelope({ kek });
      const indexer: BlindIndexer = await loadBlindIndexes({
        keys: [await createBlindIndexKey(kek)],
        kek,
      });
      const rows = new Map<string, Record<string, string | null>>();
      let next = 1;
      const contextFor = (field: string): EncryptionContext => ({ field: `Memory.${field}` });

      /** A token of this field is kept; anything else (another field's token too) is encrypted. */
      const seal = async (field: string, value: string | null): Promise<string | null> => {
        if (value === null) return null;
        if (envelope.isEncrypted(value)) {
          try {
            await envelope.decrypt(value, { context: contextFor(field) });
            return value;
          } catch (error) {
            if (!CmekDecryptionError.isInstance(error)) throw error;
          }
        }
        return envelope.encrypt(value, { context: contextFor(field) });
      };
      const indexOf = (value: string | null): string | null =>
        value === null
          ? null
          : bug === 'plaintext-index'
            ? value
            : indexer.compute(blindIndexLabel(contextFor(INDEXED), INDEXED), value, INDEX);
      const sealAll = async (
        values: FieldValues,
        on: 'insert' | 'update' = 'insert',
      ): Promise<Record<string, string | null>> => {
        const out: Record<string, string | null> = {};
        for (const [field, value] of Object.entries(values)) out[field] = await seal(field, value);
        if (INDEXED in values && !(on === 'update' && bug === 'stale-on-update')) {
          const index = indexOf(values[INDEXED] ?? null);
          const taken = [...rows.values()].some((r) => index !== null && r[INDEX.column] === index);
          if (taken && bug !== 'no-unique')
            throw new Error('unique constraint token_bidx violated');
          out[INDEX.column] = index;
        }
        return out;
      };
      const find = (values: readonly string[]): RowId[] => {
        const wanted = new Set(values.map(indexOf));
        return [...rows].filter(([, r]) => wanted.has(r[INDEX.column] ?? null)).map(([id]) => id);
      };
      const open = async (stored: Record<string, string | null>): Promise<FieldValues> => {
        const out: Record<string, string | null> = {};
        for (const field of FIELDS) {
          out[field] = await envelope.decrypt(stored[field] ?? null, {
            context: contextFor(field),
          });
        }
        return out;
      };
      const insert = async (values: FieldValues): Promise<RowId> => {
        const id = next++;
        rows.set(String(id), await sealAll(values));
        return id;
      };

      return {
        envelope,
        fields: FIELDS,
        contextFor,
        async insert(values) {
          count('insert');
          return insert(values);
        },
        async insertMany(batch) {
          count('insertMany');
          const ids: RowId[] = [];
          for (const values of batch) ids.push(await insert(values));
          return ids;
        },
        async update(id, patch) {
          count('update');
          const row = rows.get(String(id));
          if (row) Object.assign(row, await sealAll(patch, 'update'));
        },
        async read(id) {
          count('read');
          const row = rows.get(String(id));
          return row ? open(row) : null;
        },
        async readAll() {
          count('readAll');
          return Promise.all([...rows].map(async ([id, row]) => ({ id, values: await open(row) })));
        },
        async rawRow(id) {
          const row = rows.get(String(id));
          return row ? { ...row } : null;
        },
        async writeRaw(id, values) {
          count('writeRaw');
          const row = rows.get(String(id));
          if (row) Object.assign(row, values);
        },
        ...(bug === false
          ? {}
          : {
              blindIndex: {
                field: INDEXED,
                index: INDEX,
                indexer,
                findBy: async (value: string) => find([value]),
                findIn: async (values: readonly string[]) => find(values),
                async rawIndexed(id: RowId) {
                  const row = rows.get(String(id));
                  return row
                    ? { value: row[INDEXED] ?? null, index: row[INDEX.column] ?? null }
                    : null;
                },
              },
            }),
        async whereOnEncrypted(field) {
          count('whereOnEncrypted');
          throw new CmekQueryError(field, `${field} is encrypted and cannot be filtered on`);
        },
      };
    },
    async cleanup(session) {
      await session.envelope.close();
    },
  };
}
