/**
 * A tiny "ORM adapter" over a Map, encrypting two fields with a real envelope: enough to run the
 * adapter conformance suite against, to test the suite's group switches.
 */
import {
  CmekDecryptionError,
  CmekQueryError,
  createEnvelope,
  type EncryptionContext,
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

export function memoryAdapter(): MemoryAdapter {
  const calls: Record<string, number> = {};
  const count = (method: string): void => {
    calls[method] = (calls[method] ?? 0) + 1;
  };
  return {
    calls,
    async setup(): Promise<AdapterSession> {
      const envelope = createEnvelope({ kek: memoryKekProvider() });
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
      const sealAll = async (values: FieldValues): Promise<Record<string, string | null>> => {
        const out: Record<string, string | null> = {};
        for (const [field, value] of Object.entries(values)) out[field] = await seal(field, value);
        return out;
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
          if (row) Object.assign(row, await sealAll(patch));
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
