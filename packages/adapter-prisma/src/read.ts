/**
 * Decryption of every result: the records of a read (`findUnique`, `findFirst`, `findMany`, their
 * `OrThrow` forms) and those a write returns (`create`, `update`, `upsert`, `delete`,
 * `createManyAndReturn`, `updateManyAndReturn`), with the records of other models they include
 * (`include` / `select` of relations, at any depth). All the values of one result are decrypted
 * with one `openCells` call: one `decryptMany` per field, whatever the number of records.
 */
import { type Envelope, groupByTenant, openCells, tenantIdOf } from '@cmek/core';
import { isPlainObject, type ModelInfo, relatedModel, type Schema } from './data-model';
import type { FieldConfig } from './options';
import { tenantKeyOf } from './tenant';

interface Slot {
  readonly record: Record<string, unknown>;
  readonly key: string;
}

type Slots = { field: FieldConfig; tenant: string | undefined; item: Slot }[];

function collect(schema: Schema, model: ModelInfo, value: unknown, slots: Slots): void {
  if (Array.isArray(value)) {
    for (const item of value) collect(schema, model, item, slots);
    return;
  }
  if (!isPlainObject(value)) return;
  for (const [key, v] of Object.entries(value)) {
    const field = model.encrypted.get(key);
    if (field !== undefined) {
      if (typeof v !== 'string') continue;
      // the record's tenant (a tenant model); a record without one is refused by the envelope
      const tenant = model.tenant === undefined ? undefined : tenantIdOf(value[model.tenant]);
      slots.push({ field, tenant, item: { record: value, key } });
    } else if (v !== null && typeof v === 'object') {
      const related = relatedModel(schema, model, key);
      if (related !== undefined) collect(schema, related, v, slots);
    }
  }
}

/**
 * Decrypts, in place, the encrypted fields of the records of `model` in `result` (one record, a
 * list, or anything else, left alone) and of the related records they hold. A token in `written`
 * (what this query has just encrypted) is replaced by its plaintext without decrypting it.
 */
export async function openResult(
  envelope: Envelope,
  schema: Schema,
  model: ModelInfo,
  result: unknown,
  written: ReadonlyMap<string, string> = new Map(),
): Promise<unknown> {
  const slots: Slots = [];
  collect(schema, model, result, slots);
  if (slots.length === 0) return result;
  const fields = groupByTenant(slots, tenantKeyOf).map(({ field, context, items }) => {
    const open: Slot[] = [];
    for (const slot of items) {
      const known = written.get(slot.record[slot.key] as string);
      if (known !== undefined) slot.record[slot.key] = known;
      else open.push(slot);
    }
    return { field, context, open };
  });
  const opened = await openCells(
    envelope,
    fields.map(({ field, context, open }) => ({
      label: field.label,
      context,
      values: open.map((s) => s.record[s.key] as string),
    })),
  );
  for (const [i, { open }] of fields.entries()) {
    for (const [j, slot] of open.entries()) slot.record[slot.key] = opened[i]![j] ?? null;
  }
  return result;
}
