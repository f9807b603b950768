/**
 * The cells of one batch (the values of a write or a result set, by field), grouped for core's
 * `sealCells` / `openCells`. The fields of one Sequelize call can belong to several models (over
 * one table, or included in a find), each with its own envelope and plaintext policy: the cells
 * are grouped by the two, and each group is one core call (one envelope call per field). Every
 * group runs at once, as the core runs every field of a group at once; a caller that writes
 * checks every value first, so a refused value costs no KEK call in any group.
 */
import { type Envelope, type FieldCells, type PlaintextPolicy, tenantContext } from '@cmek/core';
import type { FieldConfig } from './options';

/** One field's values in a batch. */
export interface Cells<V> {
  readonly field: FieldConfig;
  readonly values: readonly V[];
  /** The rows' tenant id, for a field under tenants (undefined: unknown, the envelope refuses). */
  readonly tenant?: string | undefined;
}

/** One core call over the cells of one group, `result[i]` for `cells[i]`. */
export type GroupCall<V, R> = (
  envelope: Envelope,
  plaintextPolicy: PlaintextPolicy | undefined,
  cells: readonly FieldCells<V>[],
) => Promise<R[]>;

/** Runs `call` once per (envelope, plaintext policy) of `cells`; `result[i]` is for `cells[i]`. */
export async function byEnvelope<V, R>(
  cells: readonly Cells<V>[],
  call: GroupCall<V, R>,
): Promise<R[]> {
  const groups = new Map<Envelope, Map<PlaintextPolicy | undefined, number[]>>();
  for (const [i, { field }] of cells.entries()) {
    let byPolicy = groups.get(field.envelope);
    if (!byPolicy) {
      byPolicy = new Map();
      groups.set(field.envelope, byPolicy);
    }
    const at = byPolicy.get(field.plaintextPolicy);
    if (at) at.push(i);
    else byPolicy.set(field.plaintextPolicy, [i]);
  }
  const results: R[] = new Array(cells.length);
  const calls: Promise<void>[] = [];
  for (const [envelope, byPolicy] of groups) {
    for (const [policy, at] of byPolicy) {
      const group = at.map((i): FieldCells<V> => {
        const { field, values, tenant } = cells[i]!;
        const context = tenantContext(field.context, field.tenant?.key, tenant);
        return { label: field.display, context, values };
      });
      calls.push(
        call(envelope, policy, group).then((done) => {
          for (const [n, i] of at.entries()) results[i] = done[n]!;
        }),
      );
    }
  }
  await Promise.all(calls);
  return results;
}
