/** Encrypting and decrypting the values of slots, one batch per field. */
import {
  type Encryptable,
  type EncryptionContext,
  type Envelope,
  encryptFieldValues,
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

/** Encrypts every slot's value in place; returns what each slot held before. */
export async function encryptSlots(
  envelope: Envelope,
  slots: readonly Slot[],
  contextOf: ContextOf,
): Promise<Saved[]> {
  const saved: Saved[] = [];
  await Promise.all(
    [...byField(slots)].map(async ([field, group]) => {
      const label = labelOf(field);
      const values = group.map(({ holder, key }): Encryptable | null => {
        const value = holder[key];
        const refusal = refusalOf(value, label);
        if (refusal !== undefined) throw refusal;
        return (value as Encryptable | undefined) ?? null;
      });
      const { stored: tokens, plaintexts } = await encryptFieldValues(envelope, values, {
        context: contextOf(field),
        label,
      });
      for (const [i, { holder, key }] of group.entries()) {
        const plaintext = plaintexts[i];
        if (values[i] === null || plaintext == null) continue;
        saved.push({
          holder,
          key,
          before: holder[key],
          after: tokens[i],
          plaintext: typeof plaintext === 'string' ? plaintext : bytesToString(plaintext),
        });
        holder[key] = tokens[i];
      }
    }),
  );
  return saved;
}

/** Puts back what `encryptSlots` replaced, where the slot still holds what it wrote. */
export function restore(saved: readonly Saved[]): void {
  for (const { holder, key, before, after } of saved) {
    if (holder[key] === after) holder[key] = before;
  }
}

/** Decrypts every slot holding a string, in place (legacy plaintext follows the policy). */
export async function decryptSlots(
  envelope: Envelope,
  slots: readonly Slot[],
  contextOf: ContextOf,
): Promise<void> {
  await Promise.all(
    [...byField(slots)].map(async ([field, group]) => {
      const strings = group.filter(({ holder, key }) => typeof holder[key] === 'string');
      if (strings.length === 0) return;
      const plain = await envelope.decryptMany(
        strings.map(({ holder, key }) => holder[key] as string),
        { context: contextOf(field) },
      );
      for (const [i, { holder, key }] of strings.entries()) holder[key] = plain[i];
    }),
  );
}
