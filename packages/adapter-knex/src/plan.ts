/**
 * Reads a Knex builder's state before it runs: which configured tables it touches, which result
 * keys hold encrypted columns, and which written keys are encrypted columns. Its filters, sorts,
 * groups and aggregates go through the query rules (`query-rules.ts`) on the way.
 */
import { type BuilderState, isBuilder, isRaw, scratchBuilder } from './internals';
import { encryptedColumn, indexedColumn, lookupTable } from './lookup';
import { parseColumn, parseTable } from './names';
import type { TableConfig, TableConfigs } from './options';
import { QueryRules, type Rewrite, type SubqueryPosition, subquerySelects } from './query-rules';
import { addResultKey, Scope, type ScopeEntry } from './scope';
import type { ColumnTarget } from './target';
import type { WriteKeys } from './write';

export interface QueryPlan {
  /**
   * For an insert / update / upsert: the encrypted column a written key (`col`, `t.col`) names,
   * whose value is encrypted before the query runs. Undefined for other queries.
   */
  readonly write: WriteTargets | undefined;
  /** `rows` (select, returning), `first` (one row or undefined), `pluck` (a list of values). */
  readonly shape: 'rows' | 'first' | 'pluck' | 'none';
  /**
   * Result key → the encrypted column it holds. A result key the database returns in another
   * letter case (SQLite names a result column as the table declares it), or that an identifier
   * mapper's `postProcessResponse` renamed, is matched by its spellings (`Identifiers`).
   */
  readonly read: ReadonlyMap<string, ColumnTarget>;
  /** Result keys the select list names as columns that are not encrypted. */
  readonly plain: ReadonlySet<string>;
  /** For `pluck`: the encrypted column plucked, if it is one. */
  readonly pluck: ColumnTarget | undefined;
  /** Lookups on blind-indexed columns, rewritten to their index columns while the query runs. */
  readonly lookups: readonly Rewrite[];
}

export interface WriteTargets extends WriteKeys {
  /** The written table, when it is configured (named in errors about unencryptable values). */
  readonly table: TableConfig | undefined;
}

/** The result keys a select list (or `returning`) names: encrypted, and not. */
interface Columns {
  readonly read: Map<string, ColumnTarget>;
  readonly plain: Set<string>;
}

function columns(): Columns {
  return { read: new Map(), plain: new Set() };
}

class Planner {
  involved = false;
  readonly rules: QueryRules;

  constructor(
    private readonly tables: TableConfigs,
    private readonly client: BuilderState['client'],
  ) {
    this.rules = new QueryRules(
      client,
      (value, parent, position) => this.nested(value, parent, position),
      tables.indexer,
    );
  }

  private entryOf(value: unknown, schema: string | undefined, parent: Scope): ScopeEntry | null {
    if (typeof value === 'string') {
      const { name, alias } = parseTable(value, schema);
      const config = lookupTable(this.tables, name);
      if (config) this.involved = true;
      return { name, alias, config };
    }
    if (isRaw(value) || value === undefined || value === null) return null;
    if (typeof value === 'function' || isBuilder(value)) {
      const nested =
        typeof value === 'function' ? scratchBuilder(this.client, value as () => void) : value;
      this.nested(nested, parent, 'select');
      const as = nested._single.as;
      return typeof as === 'string' ? { name: as, alias: as, config: undefined } : null;
    }
    if (typeof value === 'object') {
      const [alias, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
      if (alias === undefined) return null;
      if (typeof inner === 'string') {
        const name = parseTable(inner, schema).name;
        const config = lookupTable(this.tables, name);
        if (config) this.involved = true;
        return { name, alias, config };
      }
      this.entryOf(inner, schema, parent);
      return { name: alias, alias, config: undefined };
    }
    return null;
  }

  scopeOf(builder: BuilderState, parent: Scope | undefined): Scope {
    const schema = typeof builder._single.schema === 'string' ? builder._single.schema : undefined;
    const entries: ScopeEntry[] = [];
    const outer = new Scope(entries, parent, this.tables.identifiers);
    const base = this.entryOf(builder._single.table, schema, outer);
    if (base) entries.push(base);
    for (const statement of builder._statements) {
      if (statement.grouping !== 'join') continue;
      const entry = this.entryOf(statement.table, schema, outer);
      if (entry) entries.push(entry);
    }
    return outer;
  }

  /** A subquery: its own conditions are checked; where its values surface, it selects no ciphertext. */
  nested(value: unknown, parent: Scope, position: SubqueryPosition): void {
    const builder =
      typeof value === 'function' ? scratchBuilder(this.client, value as () => void) : value;
    if (!isBuilder(builder)) return;
    const scope = this.scopeOf(builder, parent);
    this.rules.checks(builder, scope, typeof value === 'function');
    if (position === 'exists') return;
    const selected = columns();
    this.selected(builder, scope, selected);
    const first = selected.read.values().next().value;
    if (first) throw subquerySelects(first);
  }

  private column(item: unknown, scope: Scope, into: Columns, alias?: string): void {
    if (typeof item === 'string') {
      const ref = parseColumn(item, alias);
      if (ref.column === '*') scope.star(ref.qualifier, into.read);
      else {
        const target = scope.resolve(ref);
        if (target) addResultKey(into.read, ref.key, target);
        else into.plain.add(ref.key);
      }
    } else if (typeof item === 'function' || isBuilder(item)) {
      this.nested(item, scope, 'select');
    } else if (Array.isArray(item)) {
      for (const i of item) this.column(i, scope, into);
    } else if (typeof item === 'object' && item !== null && !isRaw(item)) {
      for (const [key, v] of Object.entries(item)) this.column(v, scope, into, key);
    }
  }

  /** The encrypted columns a select list (or `*`) puts in the result, by result key. */
  selected(builder: BuilderState, scope: Scope, into: Columns): void {
    let listed = false;
    for (const s of builder._statements) {
      if (s.grouping !== 'columns') continue;
      // `first()` and `select()` without arguments add an empty column list: that is `*`.
      if (Array.isArray(s.value) && s.value.length === 0) continue;
      listed = true;
      if (s.type === undefined || s.type === 'pluck' || s.distinct || s.distinctOn) {
        this.column(s.value, scope, into);
      }
    }
    if (!listed) scope.star(undefined, into.read);
  }

  returning(value: unknown, scope: Scope, into: Columns): void {
    this.column(value, scope, into);
  }
}

/** Written keys: a bare name is the written table's column; `t.col` (MySQL update joins) resolves. */
function writeTargets(scope: Scope): WriteTargets {
  const table = scope.entries[0]?.config;
  const cache = new Map<string, ColumnTarget | undefined>();
  return {
    table,
    targetOf(key) {
      if (cache.has(key)) return cache.get(key);
      const ref = parseColumn(key);
      const column =
        ref.qualifier === undefined && table ? encryptedColumn(table, ref.column) : undefined;
      const target = column !== undefined ? { table: table!, column } : scope.resolve(ref);
      cache.set(key, target);
      return target;
    },
    indexOf(key) {
      const ref = parseColumn(key);
      // a bare name is the written table's; a qualified one (update joins) any joined table's
      const tables =
        ref.qualifier === undefined ? [table] : scope.entries.map((entry) => entry.config);
      for (const config of tables) {
        const column = config ? indexedColumn(config, ref.column) : undefined;
        if (column !== undefined) return { table: config!, column };
      }
      return undefined;
    },
  };
}

const WRITES = new Set(['insert', 'update', 'upsert']);
const RETURNS = new Set(['insert', 'update', 'upsert', 'del']);

/**
 * The plan of one query, or `undefined` when it touches no configured table (it then runs
 * exactly as Knex would run it). Throws `CmekQueryError` for a query that cannot be answered
 * on ciphertext.
 */
export function planQuery(builder: BuilderState, tables: TableConfigs): QueryPlan | undefined {
  const planner = new Planner(tables, builder.client);
  const scope = planner.scopeOf(builder, undefined);
  planner.rules.checks(builder, scope);
  const method = builder._method;
  const result = columns();
  let shape: QueryPlan['shape'] = 'none';
  let pluck: ColumnTarget | undefined;
  if (method === 'select' || method === 'first') {
    planner.selected(builder, scope, result);
    shape = method === 'first' ? 'first' : 'rows';
  } else if (method === 'pluck') {
    const column = builder._single.pluck;
    if (typeof column === 'string') pluck = scope.resolve(parseColumn(column));
    shape = 'pluck';
  } else if (RETURNS.has(method) && builder._single.returning !== undefined) {
    const target = new Scope(scope.entries.slice(0, 1), undefined, tables.identifiers);
    planner.returning(builder._single.returning, target, result);
    shape = 'rows';
  }
  planner.rules.counter(builder, scope);
  if (!planner.involved) return undefined;
  const write = WRITES.has(method) ? writeTargets(scope) : undefined;
  return {
    write,
    shape,
    read: result.read,
    plain: result.plain,
    pluck,
    lookups: planner.rules.rewrites,
  };
}
