/**
 * The `blindIndex` option of the plugin's paths, validated at setup: core's `blindIndexesOption`
 * for its shape, then what Mongoose adds. An indexed path is a top-level path (its index is
 * written beside it, in the same object of every write); each index path is a top-level `String`
 * path declared in the schema (Mongoose's strict mode drops an undeclared key from updates),
 * neither encrypted nor another path's index; an indexer is required.
 */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexesOption,
  CmekConfigError,
  type FieldOptions,
  indexerOption,
} from '@cmek/core';
import { type FieldPath, isArrayMarker, relation, type SchemaView } from './paths';

export interface IndexConfig {
  readonly indexer: BlindIndexer | undefined;
  readonly indexes: ReadonlyMap<string, readonly BlindIndexOptions[]>;
  readonly indexPaths: readonly FieldPath[];
}

function checkIndexPath(
  schema: SchemaView,
  column: string,
  field: FieldPath,
  fields: readonly FieldPath[],
  where: string,
): void {
  if (column.includes('.') || column.startsWith('$')) {
    throw new CmekConfigError(
      `${where}.column '${column}' must be a top-level path (no dots, no '$'): the index is written beside '${field.path}'`,
    );
  }
  if (column === '_id' || fields.some((f) => relation([column], f.segments) !== 'none')) {
    throw new CmekConfigError(
      `${where}.column '${column}' is an encrypted path (or a container of one): give the index its own path`,
    );
  }
  if (schema.path(column)?.instance !== 'String') {
    throw new CmekConfigError(
      `${where}.column '${column}' is not a String path of the schema: declare it before applying the plugin ({ ${column}: String }, with a unique sparse index to make the value unique)`,
    );
  }
}

/** The blind indexes of the plugin's options (`perField`: `fields` when given as an object). */
export function blindIndexesOf(
  schema: SchemaView,
  fields: readonly FieldPath[],
  perField: Readonly<Record<string, FieldOptions>> | undefined,
  indexer: unknown,
): IndexConfig {
  const indexes = new Map<string, readonly BlindIndexOptions[]>();
  const indexPaths: FieldPath[] = [];
  for (const [declared, options] of Object.entries(perField ?? {})) {
    const where = `cmekPlugin: fields.${declared}.blindIndex`;
    const specs = blindIndexesOption(options.blindIndex, where);
    if (specs.length === 0) continue;
    const path = declared
      .split('.')
      .filter((s) => !isArrayMarker(s))
      .join('.');
    const field = fields.find((f) => f.path === path)!;
    if (field.segments.length !== 1 || field.inArray) {
      throw new CmekConfigError(
        `${where}: only a top-level path can have a blind index ('${declared}' is nested or inside an array)`,
      );
    }
    for (const { column } of specs) {
      checkIndexPath(schema, column, field, fields, where);
      if (indexPaths.some((p) => p.path === column)) {
        throw new CmekConfigError(`${where}.column '${column}' is the index of another path too`);
      }
      indexPaths.push({ path: column, segments: [column], inArray: false, indexOf: field.path });
    }
    indexes.set(field.path, specs);
  }
  if (indexes.size > 0 && indexer === undefined) {
    throw new CmekConfigError(
      `cmekPlugin: ${[...indexes.keys()].join(', ')} ${indexes.size === 1 ? 'has' : 'have'} a blind index: pass \`indexer\` (from loadBlindIndexes)`,
    );
  }
  const checked = indexerOption(indexer, 'cmekPlugin');
  return {
    indexer: indexes.size > 0 ? checked : undefined,
    indexes,
    indexPaths,
  };
}
