/**
 * The write side: the values of an encrypted field, wherever a write path found them (slots.ts),
 * encrypted in one core call per field (`sealCells`), and the blind index of an indexed field
 * computed from the plaintexts `sealCells` saw (`blindIndexCells`, one call per write) and put
 * beside the value. Each write path (save.ts, insert-many.ts, update.ts, bulk-write.ts,
 * connection-bulk-write.ts) collects its slots and calls `encryptSlots` once per call.
 */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexCells,
  type Encryptable,
  type EncryptionContext,
  type Envelope,
  sealCells,
} from '@cmek/core';
import { bytesToString, labelOf, refusalOf } from './non-strings';
import type { ContextOf } from './options';
import { type Holder, type Slot, slotsByField } from './slots';

/** What the write side needs of the plugin's configuration. */
export interface WriteConfig {
  readonly envelope: Envelope;
  readonly indexer?: BlindIndexer | undefined;
  /** The blind-index paths of each indexed (top-level) path. */
  readonly indexes?: ReadonlyMap<string, readonly BlindIndexOptions[]>;
  /** The path of each document's tenant id, with a tenant envelope (tenant.ts). */
  readonly tenantPath?: string | undefined;
}

/** One blind-index value of a write: `null` for a null value (the index path is then removed). */
export interface IndexWrite {
  readonly slot: Slot;
  readonly column: string;
  readonly value: string | null;
}

export interface IndexPlacement {
  /** Whether the index of a slot's value is written (default: every slot of an indexed path). */
  readonly indexes?: (slot: Slot) => boolean;
  /** Writes one index value (default `placeBeside`). */
  readonly place?: (write: IndexWrite) => void;
}

/**
 * An index value beside its value, in the same object (a document, a `$set`, a replacement): a
 * null value removes the index path, so that a sparse unique index holds any number of them.
 */
export function placeBeside({ slot, column, value }: IndexWrite): void {
  if (value === null) delete slot.holder[column];
  else slot.holder[column] = value;
}

/** What a slot held before it was encrypted, to put back after a save. */
export interface Saved {
  readonly holder: Holder;
  readonly key: string | number;
  readonly before: unknown;
  readonly after: unknown;
  /** The plaintext the token `after` holds, as the string it decrypts to. */
  readonly plaintext: string;
}

/**
 * Encrypts every slot's value in place, one call per field (`sealCells`); returns what each slot
 * held before. Every value is checked before anything is encrypted.
 */
export async function encryptSlots(
  config: WriteConfig,
  slots: readonly Slot[],
  contextOf: ContextOf,
  placement: IndexPlacement = {},
): Promise<Saved[]> {
  const groups = [...slotsByField(slots)].map(([field, group]) => {
    const label = labelOf(field);
    const values = group.map(({ holder, key }): Encryptable | null => {
      const value = holder[key];
      const refusal = refusalOf(value, label);
      if (refusal !== undefined) throw refusal;
      return (value as Encryptable | undefined) ?? null;
    });
    return { group, cells: { label, context: contextOf(field), values } };
  });
  const sealed = await sealCells(
    config.envelope,
    groups.map(({ cells }) => cells),
  );
  await writeIndexes(config, groups, sealed, placement);
  const saved: Saved[] = [];
  for (const [g, { group, cells }] of groups.entries()) {
    const { stored: tokens, plaintexts } = sealed[g]!;
    for (const [i, { holder, key }] of group.entries()) {
      const plaintext = plaintexts[i];
      if (cells.values[i] === null || plaintext == null) continue;
      saved.push({
        holder,
        key,
        before: holder[key],
        after: tokens[i],
        plaintext: typeof plaintext === 'string' ? plaintext : bytesToString(plaintext),
      });
      holder[key] = tokens[i];
    }
  }
  return saved;
}

/** The blind indexes of the indexed fields of a write, from the plaintexts `sealCells` saw. */
async function writeIndexes(
  config: WriteConfig,
  groups: readonly {
    group: readonly Slot[];
    cells: { label: string; context: EncryptionContext };
  }[],
  sealed: readonly { plaintexts: readonly (Encryptable | null | undefined)[] }[],
  { indexes: wanted = () => true, place = placeBeside }: IndexPlacement,
): Promise<void> {
  const { indexer, indexes } = config;
  if (indexer === undefined || indexes === undefined || indexes.size === 0) return;
  const work = groups.flatMap(({ group, cells }, g) => {
    const specs = indexes.get(group[0]!.field.path);
    if (specs === undefined) return [];
    const slots = group.filter(wanted);
    if (slots.length === 0) return [];
    const plaintexts = sealed[g]!.plaintexts.filter((_, i) => wanted(group[i]!));
    return [
      { slots, cells: { label: cells.label, context: cells.context, indexes: specs, plaintexts } },
    ];
  });
  if (work.length === 0) return;
  const computed = await blindIndexCells(
    indexer,
    work.map(({ cells }) => cells),
  );
  for (const [w, { slots }] of work.entries()) {
    for (const { column, values } of computed[w]!) {
      for (const [i, slot] of slots.entries()) place({ slot, column, value: values[i] ?? null });
    }
  }
}

/** Puts back what `encryptSlots` replaced, where the slot still holds what it wrote. */
export function restore(saved: readonly Saved[]): void {
  for (const { holder, key, before, after } of saved) {
    if (holder[key] === after) holder[key] = before;
  }
}
