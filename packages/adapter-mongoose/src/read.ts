/**
 * The read side: the encrypted values of a result (hydrated documents or lean objects, one or an
 * array of them) decrypted in place, one core call per field for the whole result (`openCells`;
 * legacy plaintext follows the envelope's policy). The read paths are query results (query.ts)
 * and the documents `insertMany` returns (insert-many.ts).
 */
import { CmekQueryError, type Envelope, openCells } from '@cmek/core';
import { labelOf } from './non-strings';
import type { ContextOf, ContextsOf, PluginConfig } from './options';
import { type Slot, SlotFinder, slotsByField } from './slots';
import { documentTenant } from './tenant';

/** Decrypts every slot holding a string, in place, one call per field. */
async function decryptSlots(
  envelope: Envelope,
  slots: readonly Slot[],
  contextOf: ContextOf,
): Promise<void> {
  const groups = [...slotsByField(slots)]
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

/**
 * Decrypts, in place, hydrated documents or lean objects (a result, or an array of them): one
 * `decryptMany` per field (and, under a `tenantPath`, per tenant: each document's own) for the
 * whole result. A token in `known` (just written by this call) gets its plaintext from there
 * instead. Under a `tenantPath`, a document holding an encrypted value without its tenant id (a
 * projection that leaves the tenant path out) is refused.
 */
export async function decryptResults(
  config: PluginConfig,
  results: unknown,
  contexts: ContextsOf,
  known: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const list = Array.isArray(results) ? results : [results];
  const finder = new SlotFinder(false);
  const byTenant = new Map<string | undefined, Slot[]>();
  for (const item of list) {
    if (item === null || typeof item !== 'object') continue;
    const root = finder.root(item);
    const tenant =
      config.tenantPath === undefined ? undefined : documentTenant(config.tenantPath, root);
    for (const slot of finder.collectAll(root, config.fields)) {
      const value = slot.holder[slot.key];
      const plaintext = typeof value === 'string' ? known.get(value) : undefined;
      if (plaintext !== undefined) {
        slot.holder[slot.key] = plaintext;
        continue;
      }
      if (config.tenantPath !== undefined && tenant === undefined && typeof value === 'string') {
        throw new CmekQueryError(
          slot.field.path,
          `a result holds ${labelOf(slot.field)} without its tenant path '${config.tenantPath}' (left out by a projection?): select the tenant path with the encrypted paths`,
        );
      }
      const slots = byTenant.get(tenant);
      if (slots === undefined) byTenant.set(tenant, [slot]);
      else slots.push(slot);
    }
  }
  for (const [tenant, slots] of byTenant) {
    await decryptSlots(config.envelope, slots, contexts(tenant));
  }
}
