/**
 * The tables one level of a query names (its `from` and its joins, each by name and alias), and
 * the encrypted column a column reference resolves to in them or in an outer level's tables.
 */
import { CmekQueryError } from '@cmek/core';
import { type Identifiers, overlaps } from './identifiers';
import { encryptedColumn } from './lookup';
import { type ColumnName, lastPart } from './names';
import type { TableConfig } from './options';
import { type ColumnTarget, columnLabel, sameTarget } from './target';

export interface ScopeEntry {
  readonly name: string;
  readonly alias: string;
  readonly config: TableConfig | undefined;
}

export class Scope {
  constructor(
    readonly entries: readonly ScopeEntry[],
    readonly parent: Scope | undefined,
    readonly identifiers: Identifiers,
  ) {}

  /**
   * The tables a qualifier names, in the nearest query level that has one: by alias first, then
   * by name, then (`schema.table.col` over a table named without its schema) by the qualifier's
   * table part, all by their spellings: case-insensitively (`S.token` for `secrets as s`) and
   * through the identifier mapping (`user_secrets.x` for `userSecrets`). Two aliases differing
   * only in case (possible on PostgreSQL) both match.
   */
  private entriesOf(qualifier: string): ScopeEntry[] {
    const { of } = this.identifiers;
    const spelled = of(qualifier);
    const bare = qualifier.includes('.') ? spelled.map(lastPart) : [];
    for (let scope: Scope | undefined = this; scope; scope = scope.parent) {
      const byAlias = scope.entries.filter((e) => overlaps(of(e.alias), spelled));
      if (byAlias.length > 0) return byAlias;
      const byName = scope.entries.filter((e) => overlaps(of(e.name), spelled));
      if (byName.length > 0) return byName;
      const byTable = scope.entries.filter(
        (e) =>
          bare.length > 0 &&
          (overlaps(of(e.alias), bare) || overlaps(of(e.name).map(lastPart), bare)),
      );
      if (byTable.length > 0) return byTable;
    }
    return [];
  }

  /** The encrypted column a reference names, if any; throws when it could be two of them. */
  resolve(ref: ColumnName): ColumnTarget | undefined {
    if (ref.qualifier !== undefined) {
      const targets = targetsIn(this.entriesOf(ref.qualifier), ref.column);
      if (targets.length > 1) {
        const names = targets.map(columnLabel).join(' or ');
        throw new CmekQueryError(
          targets[0]!.column,
          `'${ref.qualifier}.${ref.column}' may name ${names} (table names and aliases are matched case-insensitively); give the tables aliases that differ in more than letter case`,
        );
      }
      return targets[0];
    }
    for (let scope: Scope | undefined = this; scope; scope = scope.parent) {
      const hits = scope.entries.filter(
        (e) => e.config && encryptedColumn(e.config, ref.column) !== undefined,
      );
      if (hits.length > 1) {
        throw new CmekQueryError(
          ref.column,
          `the column '${ref.column}' is encrypted in more than one joined table (${hits
            .map((h) => h.alias)
            .join(', ')}); qualify it as '<table>.${ref.column}' so it can be decrypted`,
        );
      }
      if (hits.length === 1) {
        const config = hits[0]!.config!;
        return { table: config, column: encryptedColumn(config, ref.column)! };
      }
      // A bare name that is no encrypted column of this level may still be a correlated
      // reference to an outer query's table, which only matters when this level has no table.
      if (scope.entries.length > 0) return undefined;
    }
    return undefined;
  }

  /** The encrypted columns a `*` (qualifier undefined) or `t.*` selects, by result key. */
  star(qualifier: string | undefined, into: Map<string, ColumnTarget>): void {
    const entries = qualifier === undefined ? this.entries : this.entriesOf(qualifier);
    for (const entry of entries) {
      if (!entry.config) continue;
      for (const column of entry.config.columns) {
        addResultKey(into, column, { table: entry.config, column });
      }
    }
  }
}

/** The distinct encrypted columns a column name names in these tables. */
function targetsIn(entries: readonly ScopeEntry[], column: string): ColumnTarget[] {
  const out: ColumnTarget[] = [];
  for (const { config: table } of entries) {
    if (table === undefined) continue;
    const configured = encryptedColumn(table, column);
    if (configured === undefined) continue;
    const target = { table, column: configured };
    if (!out.some((t) => sameTarget(t, target))) out.push(target);
  }
  return out;
}

/** Records that a result key holds an encrypted column; throws when it would hold two. */
export function addResultKey(
  into: Map<string, ColumnTarget>,
  key: string,
  target: ColumnTarget,
): void {
  const previous = into.get(key);
  if (previous && !sameTarget(previous, target)) {
    throw new CmekQueryError(
      target.column,
      `the result key '${key}' would hold both ${columnLabel(previous)} and ${columnLabel(target)}; select them under distinct aliases ('${previous.table.name}.${previous.column} as a', ...)`,
    );
  }
  into.set(key, target);
}
