/**
 * Encryption on every write path, before Prisma sees the values: the `data` of `create`,
 * `createMany`, `createManyAndReturn`, `update`, `updateMany`, `updateManyAndReturn`, the `create`
 * and `update` of `upsert`, and every nested write inside a relation field of `data` (`create`,
 * `createMany`, `connectOrCreate`, `upsert`, `update`, `updateMany`), whatever the model. The
 * `where` of nested writes is checked by the query rules on the way.
 *
 * The caller's arguments are never changed: the objects on the way to an encrypted value are
 * copied. All the values of a query are sealed in one `sealCells` call, one cell per field, and
 * the blind indexes of the fields that have one computed in one `blindIndexCells` call, from the
 * plaintexts, and written beside the tokens in the same `data` (a `null` value gives a `null`
 * index). A `data` that sets an index field itself is refused.
 */
import {
  blindIndexCells,
  CmekInvalidInputError,
  type Encryptable,
  type Envelope,
  type FieldCells,
  groupByTenant,
  sealCells,
} from '@cmek/core';
import { isPlainObject, type ModelInfo, relatedModel, type Schema } from './data-model';
import type { FieldConfig } from './options';
import { rewriteWhere } from './query-rules';
import { tenantKeyOf, tenantOfData } from './tenant';

/** Where a value to encrypt sits (in a copy of the arguments), and the data its indexes go to. */
interface Slot {
  readonly holder: Record<string, unknown>;
  readonly key: string;
  readonly data: Record<string, unknown>;
}

/** The values to encrypt, with their field and their record's tenant. */
class Pending {
  readonly items: { field: FieldConfig; tenant: string | undefined; item: Slot }[] = [];

  add(
    field: FieldConfig,
    tenant: string | undefined,
    holder: Record<string, unknown>,
    key: string,
    data = holder,
  ): void {
    this.items.push({ field, tenant, item: { holder, key, data } });
  }
}

/** A shallow copy of a plain object or array, so the caller's stays as it was. */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return [...value] as T;
  if (isPlainObject(value)) return { ...value } as T;
  return value;
}

/** `f(copy of each item)` for one item or a list; returns the copied value. */
function eachCopied(value: unknown, f: (item: unknown) => unknown): unknown {
  return Array.isArray(value) ? value.map(f) : f(value);
}

/**
 * The `data` of a create (or of an update, `update: true`, with the `where` that selects its
 * records) of `model`: a copy with slots.
 */
function sealData(
  schema: Schema,
  model: ModelInfo,
  data: unknown,
  pending: Pending,
  update: boolean,
  where?: unknown,
): unknown {
  if (!isPlainObject(data)) return data;
  const out = copy(data);
  const tenant = tenantOfData(model, data, update, where);
  for (const [key, value] of Object.entries(out)) {
    if (value === undefined) continue;
    const indexed = model.indexColumns.get(key);
    if (indexed !== undefined) {
      throw new CmekInvalidInputError(
        `${model.name}.${key} is the blind index of ${indexed.label}: it is written by @cmek/adapter-prisma with the field, not by the application`,
      );
    }
    const field = model.encrypted.get(key);
    if (field !== undefined) {
      if (update && isPlainObject(value) && Object.keys(value).length === 1 && 'set' in value) {
        const set = copy(value);
        out[key] = set;
        if (set.set !== undefined) pending.add(field, tenant, set, 'set', out);
      } else {
        pending.add(field, tenant, out, key);
      }
      continue;
    }
    const related = relatedModel(schema, model, key);
    if (related !== undefined && isPlainObject(value)) {
      out[key] = sealNested(schema, related, value, pending);
    }
  }
  return out;
}

/** `{ where?, data }` (an update with its selection), or the data itself. */
function isWithWhere(model: ModelInfo, value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  return (
    keys.includes('data') &&
    isPlainObject(value.data) &&
    keys.every((k) => k === 'data' || k === 'where') &&
    !(model.fields.has('data') && !keys.includes('where'))
  );
}

/** The nested writes inside a relation field of `data`, on the related `model`. */
function sealNested(
  schema: Schema,
  model: ModelInfo,
  nested: Record<string, unknown>,
  pending: Pending,
): Record<string, unknown> {
  const out = copy(nested);
  const create = (d: unknown) => sealData(schema, model, d, pending, false);
  const update = (d: unknown, w?: unknown) => sealData(schema, model, d, pending, true, w);
  const where = (w: unknown) => rewriteWhere(schema, model, w, 'a nested write filter');
  /** `item` with its `where` rewritten (left out when it has none). */
  const filtered = (item: Record<string, unknown>) =>
    item.where === undefined ? { ...item } : { ...item, where: where(item.where) };
  for (const [op, value] of Object.entries(out)) {
    if (value === undefined) continue;
    switch (op) {
      case 'create':
        out[op] = eachCopied(value, create);
        break;
      case 'createMany':
        if (isPlainObject(value)) out[op] = { ...value, data: eachCopied(value.data, create) };
        break;
      case 'connectOrCreate':
        out[op] = eachCopied(value, (item) => {
          if (!isPlainObject(item)) return item;
          return { ...filtered(item), create: create(item.create) };
        });
        break;
      case 'upsert':
        out[op] = eachCopied(value, (item) => {
          if (!isPlainObject(item)) return item;
          return {
            ...filtered(item),
            create: create(item.create),
            update: update(item.update, item.where),
          };
        });
        break;
      case 'update':
      case 'updateMany':
        out[op] = eachCopied(value, (item) => {
          if (!isPlainObject(item)) return item;
          if (op === 'updateMany' || isWithWhere(model, item)) {
            return { ...filtered(item), data: update(item.data, item.where) };
          }
          return update(item);
        });
        break;
      default:
        // connect, disconnect, set, delete, deleteMany: filters only
        out[op] = eachCopied(value, where);
    }
  }
  return out;
}

/** Arguments of a write with their values encrypted, and what each token stands for. */
export interface SealedArgs {
  readonly args: Record<string, unknown>;
  /** Token → plaintext of what was written (results reuse it instead of decrypting). */
  readonly written: ReadonlyMap<string, string>;
  /** Whether any value was encrypted. */
  readonly sealed: boolean;
}

const WRITES: Readonly<Record<string, readonly ('data' | 'create' | 'update')[]>> = {
  create: ['data'],
  createMany: ['data'],
  createManyAndReturn: ['data'],
  update: ['data'],
  updateMany: ['data'],
  updateManyAndReturn: ['data'],
  upsert: ['create', 'update'],
};

export function isWrite(operation: string): boolean {
  return Object.hasOwn(WRITES, operation);
}

const decoder = new TextDecoder();

function asText(value: Encryptable | null): string | null {
  if (value === null || typeof value === 'string') return value;
  return decoder.decode(value);
}

/** Encrypts the values a write operation's arguments hold for encrypted fields (nested too). */
export async function sealArgs(
  envelope: Envelope,
  schema: Schema,
  model: ModelInfo,
  operation: string,
  args: Record<string, unknown>,
): Promise<SealedArgs> {
  const pending = new Pending();
  const out = copy(args);
  for (const key of WRITES[operation] ?? []) {
    const isUpdate = key === 'update' || operation.startsWith('update');
    out[key] = eachCopied(out[key], (d) =>
      sealData(schema, model, d, pending, isUpdate, isUpdate ? args.where : undefined),
    );
  }
  const written = new Map<string, string>();
  if (pending.items.length === 0) return { args: out, written, sealed: false };
  // one batch per field and tenant
  const fields = groupByTenant(pending.items, tenantKeyOf);
  const cells: FieldCells<unknown>[] = fields.map(({ field, context, items }) => ({
    label: field.label,
    context,
    values: items.map((s) => s.holder[s.key]),
  }));
  const sealed = await sealCells(envelope, cells);
  await writeIndexes(fields, sealed);
  for (const [i, { items: slots }] of fields.entries()) {
    const { stored, plaintexts } = sealed[i]!;
    for (const [j, slot] of slots.entries()) {
      const token = stored[j] ?? null;
      slot.holder[slot.key] = token;
      const plaintext = asText(plaintexts[j] ?? null);
      if (token !== null && plaintext !== null) written.set(token, plaintext);
    }
  }
  return { args: out, written, sealed: true };
}

/** Sets, beside each sealed value of an indexed field, its index fields (from the plaintexts). */
async function writeIndexes(
  fields: readonly { readonly field: FieldConfig; readonly items: Slot[] }[],
  sealed: readonly { readonly plaintexts: readonly (Encryptable | null)[] }[],
): Promise<void> {
  const indexed = fields.flatMap(({ field, items: slots }, i) =>
    field.indexes.length > 0 && field.indexer !== undefined ? [{ field, slots, i }] : [],
  );
  if (indexed.length === 0) return;
  const columns = await blindIndexCells(
    indexed[0]!.field.indexer!,
    indexed.map(({ field, i }) => ({
      label: field.label,
      context: field.context,
      indexes: field.indexes,
      plaintexts: sealed[i]!.plaintexts,
    })),
  );
  for (const [n, { slots }] of indexed.entries()) {
    for (const { column, values } of columns[n]!) {
      for (const [j, slot] of slots.entries()) slot.data[column] = values[j] ?? null;
    }
  }
}
