/** Encrypting and decrypting the values of slots, one batch per field. */
import {
  type Encryptable,
  type EncryptionContext,
  type Envelope,
  openCells,
  sealCells,
} from '@cmek/core';
import { bytesToString, labelOf, refusalOf } from './non-strings';
import type { FieldPath } from './paths';
import type { Holder, Slot } from './slots';

export type ContextOf = (field: FieldPath) => EncryptionContext;

/** What a slot held before it was encrypted, to put back after a save. */
export interface Saved {
  readonly holder: Holder;
  readonly key: string | number;
  readonly before: unknown;
  readonly after: unknown;
  /** The plaintext the token `after` holds, as the string it decrypts to. */
  readonly plaintext: string;
}

function byField(slots: readonly Slot[]): Map<FieldPath, Slot[]> {
  const groups = new Map<FieldPath, Slot[]>();
  for (const slot of slots) {
    const group = groups.get(slot.field);
    if (group) group.push(slot);
    else groups.set(slot.field, [slot]);
  }
  return groups;
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
  const groups = [...byField(slots)].map(([field, group]) => {
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

/**
 * Decrypts every slot holding a string, in place, one call per field (`openCells`; legacy
 * plaintext follows the policy).
 */
export async function decryptSlots(
  envelope: Envelope,
  slots: readonly Slot[],
  contextOf: ContextOf,
): Promise<void> {
  const groups = [...byField(slots)]
    .map(([field, group]) => ({
      field,
      strings: group.filter(({ holder, key }) => typeof holder[key] === 'string'),
    }))
    .filter(({ strings }) => strings.length > 0);
  const opened = await openCells(
    envelope,
    groups.map(({ field, strings }) => ({
      label: labelOf(field),
      context: contextOf(field),
      values: strings.map(({ holder, key }) => holder[key] as string),
    })),
  );
  for (const [g, { strings }] of groups.entries()) {
    const plain = opened[g]!;
    for (const [i, { holder, key }] of strings.entries()) holder[key] = plain[i];
  }
}
