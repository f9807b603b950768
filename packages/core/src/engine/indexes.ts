/**
 * The blind indexes of a store, as the engine sees them: per field, the label the index is derived
 * under, its columns, and the prefix (mode and key id) each column's values must have.
 */
import { modeTag } from '../blind-index';
import { type BlindIndexOptions, blindIndexesOption, blindIndexLabel } from '../blind-index-cells';
import type { BlindIndexer } from '../blind-index-keys';
import { CmekConfigError } from '../errors';
import type { RowStore } from '../row-store';

export interface FieldIndexes {
  /** The label the field's index values are derived under. */
  readonly label: string;
  readonly specs: readonly BlindIndexOptions[];
  /** `cmek:bi1:<tag>:<key id>:` of each column: a value without it is due (empty, other key or mode). */
  readonly prefixes: readonly string[];
}

/**
 * The store's indexed fields (empty for a store without `blindIndexes`). Throws
 * `CmekConfigError` when the store has some and no indexer is given, or they are malformed.
 */
export function storeIndexes(
  store: RowStore,
  indexer: BlindIndexer | undefined,
  operation: 'backfill' | 'verify',
): ReadonlyMap<string, FieldIndexes> {
  const out = new Map<string, FieldIndexes>();
  const declared = store.blindIndexes;
  if (declared === undefined) return out;
  if (typeof declared !== 'object' || declared === null) {
    throw new CmekConfigError(`blindIndexes of store '${store.name}' must be an object`);
  }
  const columns = new Set<string>();
  for (const field of store.fields) {
    const specs = blindIndexesOption(
      declared[field],
      `blindIndexes.${field} of store '${store.name}'`,
    );
    if (specs.length === 0) continue;
    if (indexer === undefined) {
      throw new CmekConfigError(
        `store '${store.name}' has blind indexes: ${operation} needs { indexer } (loadBlindIndexes)`,
      );
    }
    for (const { column } of specs) {
      if (columns.has(column)) {
        throw new CmekConfigError(`store '${store.name}' names the index column ${column} twice`);
      }
      columns.add(column);
    }
    out.set(field, {
      label: blindIndexLabel(store.contextFor(field), `${store.name}.${field}`),
      specs,
      prefixes: specs.map(
        (spec) =>
          `cmek:bi1:${modeTag(spec.mode ?? 'hmac', indexer.slowCost)}:${spec.key ?? indexer.currentKeyId}:`,
      ),
    });
  }
  return out;
}

/** The index value of `plaintext` for `spec` (slow mode on the thread pool). */
export function indexOf(
  indexer: BlindIndexer,
  field: FieldIndexes,
  spec: BlindIndexOptions,
  plaintext: string,
): Promise<string> {
  return indexer.computeAsync(field.label, plaintext, spec);
}
