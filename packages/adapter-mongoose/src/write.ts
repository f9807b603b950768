/**
 * The write side: the values of an encrypted field, wherever a write path found them (slots.ts),
 * encrypted in one core call per field (`sealCells`). Each write path (save.ts, insert-many.ts,
 * update.ts, bulk-write.ts, connection-bulk-write.ts) collects its slots and calls
 * `encryptSlots` once per call.
 */
import { type Encryptable, type Envelope, sealCells } from '@cmek/core';
import { bytesToString, labelOf, refusalOf } from './non-strings';
import type { ContextOf } from './options';
import { type Holder, type Slot, slotsByField } from './slots';

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
  envelope: Envelope,
  slots: readonly Slot[],
  contextOf: ContextOf,
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
    envelope,
    groups.map(({ cells }) => cells),
  );
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

/** Puts back what `encryptSlots` replaced, where the slot still holds what it wrote. */
export function restore(saved: readonly Saved[]): void {
  for (const { holder, key, before, after } of saved) {
    if (holder[key] === after) holder[key] = before;
  }
}
