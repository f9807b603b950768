/**
 * Reads a Knex builder's state before it runs: which configured tables it touches, which result
 * keys hold encrypted columns, and whether it filters, sorts or groups on ciphertext (refused).
 */
import { CmekQueryError } from '@cmek/core';
import { type Identifiers, overlaps } from './identifiers';
import { type BuilderState, isBuilder, isRaw, type Statement } from './internals';
import { encryptedColumn, lookupTable } from './lookup';
import { type ColumnName, parseColumn, parseTable } from './names';
import type { TableConfig, TableConfigs } from './options';

export interface ColumnTarget {
  readonly table: TableConfig;
  /** The encrypted column as configured (its context and its name in errors). */
  readonly column: string;
}

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
}

export interface WriteTargets {
  /** The written table, when it is configured (named in errors about unencryptable values). */
  readonly table: TableConfig | undefined;
  targetOf(key: string): ColumnTarget | undefined;
}

interface ScopeEntry {
  readonly name: string;
  readonly alias: string;
  readonly config: TableConfig | undefined;
}

function label(target: ColumnTarget): string {
  return `${target.table.name}.${target.column}`;
}

class Scope {
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
    const bare = qualifier.includes('.') ? spelled.map(tablePart) : [];
    for (let scope: Scope | undefined = this; scope; scope = scope.parent) {
      const byAlias = scope.entries.filter((e) => overlaps(of(e.alias), spelled));
      if (byAlias.length > 0) return byAlias;
      const byName = scope.entries.filter((e) => overlaps(of(e.name), spelled));
      if (byName.length > 0) return byName;
      const byTable = scope.entries.filter(
        (e) =>
          bare.length > 0 &&
          (overlaps(of(e.alias), bare) || overlaps(of(e.name).map(tablePart), bare)),
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
        const names = targets.map(label).join(' or ');
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
        add(into, column, { table: entry.config, column });
      }
    }
  }
}

/** A spelling of a table name without its schema. */
function tablePart(spelling: string): string {
  return spelling.slice(spelling.lastIndexOf('.') + 1);
}

/** The distinct encrypted columns a column name names in these tables. */
function targetsIn(entries: readonly ScopeEntry[], column: string): ColumnTarget[] {
  const out: ColumnTarget[] = [];
  for (const { config: table } of entries) {
    if (table === undefined) continue;
    const configured = encryptedColumn(table, column);
    if (configured === undefined) continue;
    if (!out.some((t) => t.table === table && t.column === configured)) {
      out.push({ table, column: configured });
    }
  }
  return out;
}

function add(into: Map<string, ColumnTarget>, key: string, target: ColumnTarget): void {
  const previous = into.get(key);
  if (previous && (previous.table !== target.table || previous.column !== target.column)) {
    throw new CmekQueryError(
      target.column,
      `the result key '${key}' would hold both ${label(previous)} and ${label(target)}; select them under distinct aliases ('${previous.table.name}.${previous.column} as a', ...)`,
    );
  }
  into.set(key, target);
}

function refused(target: ColumnTarget, what: string): CmekQueryError {
  return new CmekQueryError(
    target.column,
    `cannot ${what} the encrypted column ${label(target)}: the database only holds its ciphertext, which is random; filter, sort or group on another column, or in the application after reading`,
  );
}

/** The result keys a select list (or `returning`) names: encrypted, and not. */
interface Columns {
  readonly read: Map<string, ColumnTarget>;
  readonly plain: Set<string>;
}

function columns(): Columns {
  return { read: new Map(), plain: new Set() };
}

/** Statement types whose `column` may be an encrypted column without comparing ciphertext. */
const NULL_CHECKS = new Set(['whereNull', 'havingNull', 'onNull']);
const COUNTS = new Set(['count']);

class Analysis {
  involved = false;

  constructor(
    private readonly tables: TableConfigs,
    private readonly client: BuilderState['client'],
  ) {}

  private scratch(fn: (this: unknown, b: unknown) => void): BuilderState {
    const builder = this.client.queryBuilder();
    fn.call(builder, builder);
    return builder;
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
      const nested = typeof value === 'function' ? this.scratch(value as () => void) : value;
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

  /** A column reference in a filter / sort / group position: refused if it is encrypted. */
  refuse(value: unknown, scope: Scope, what: string): void {
    if (Array.isArray(value)) {
      for (const v of value) this.refuse(v, scope, what);
      return;
    }
    if (typeof value === 'string') {
      const target = scope.resolve(parseColumn(value));
      if (target) throw refused(target, what);
    } else if (typeof value === 'function' || isBuilder(value)) {
      this.nested(value, scope, 'in');
    } else if (typeof value === 'object' && value !== null && !isRaw(value)) {
      // `orderBy([{ column, order }])` is expanded by Knex; objects here are column maps.
      for (const v of Object.values(value)) this.refuse(v, scope, what);
    }
  }

  private subqueryValue(value: unknown, scope: Scope, position: 'in' | 'exists'): void {
    if (typeof value === 'function' || isBuilder(value)) this.nested(value, scope, position);
  }

  /** where / having / join-on conditions. */
  private conditions(statements: readonly Statement[], scope: Scope): void {
    for (const s of statements) {
      const type = s.type ?? '';
      if (type === 'whereWrapped' || type === 'havingWrapped') {
        if (typeof s.value === 'function') {
          const inner = this.scratch(s.value as () => void);
          this.conditions(
            inner._statements.filter((x) => x.grouping === 'where' || x.grouping === 'having'),
            scope,
          );
        }
        continue;
      }
      if (type === 'onWrapped') {
        // Knex calls the function on a fresh JoinClause when compiling; collect its clauses so.
        if (typeof s.value === 'function') {
          const joined = (
            this.client.queryBuilder() as unknown as { join(t: string, fn: unknown): BuilderState }
          ).join('cmek_scratch', s.value);
          this.conditions(joined._statements.at(-1)?.clauses ?? [], scope);
        }
        continue;
      }
      if (type === 'whereExists' || type === 'onExists' || type === 'havingExists') {
        this.subqueryValue(s.value, scope, 'exists');
        continue;
      }
      if (type.endsWith('Raw')) continue; // raw SQL is not parsed (documented)
      if (!NULL_CHECKS.has(type)) this.refuse(s.column, scope, 'filter on');
      if (s.asColumn || type === 'onBasic') this.refuse(s.value, scope, 'compare');
      else this.subqueryValue(s.value, scope, 'in');
    }
  }

  /** A subquery: its own conditions are checked; where its values surface, it selects no ciphertext. */
  nested(value: unknown, parent: Scope, position: 'select' | 'in' | 'exists'): void {
    const builder = typeof value === 'function' ? this.scratch(value as () => void) : value;
    if (!isBuilder(builder)) return;
    const scope = this.scopeOf(builder, parent);
    this.checks(builder, scope);
    if (position === 'exists') return;
    const selected = columns();
    this.selected(builder, scope, selected);
    const first = selected.read.values().next().value;
    if (first) {
      throw new CmekQueryError(
        first.column,
        `a subquery selects the encrypted column ${label(first)}; its ciphertext cannot be decrypted or compared there. Select it in the outer query by name, or use knex.raw and decryptRows`,
      );
    }
  }

  /** Every filter, sort, group and aggregate of one query level. */
  checks(builder: BuilderState, scope: Scope): void {
    for (const s of builder._statements) {
      switch (s.grouping) {
        case 'where':
        case 'having':
          this.conditions([s], scope);
          break;
        case 'join':
          this.conditions(s.clauses ?? [], scope);
          break;
        case 'group':
          if (s.type === 'groupByBasic') this.refuse(s.value, scope, 'group by');
          break;
        case 'order':
          if (s.type === 'orderByBasic') this.refuse(s.value, scope, 'order by');
          break;
        case 'with':
        case 'union':
          if (Array.isArray(s.value)) for (const v of s.value) this.nested(v, scope, 'select');
          else this.nested(s.value, scope, 'select');
          break;
        case 'columns':
          if (s.type === 'aggregate') {
            if (
              !COUNTS.has(s.method ?? '') ||
              (s as { aggregateDistinct?: boolean }).aggregateDistinct
            ) {
              this.refuse(s.value, scope, `${s.method ?? 'aggregate'}() over`);
            }
          } else if (s.distinct || s.distinctOn) {
            this.refuse(s.value, scope, 'select distinct');
          }
          break;
        default:
          break;
      }
    }
  }

  private column(item: unknown, scope: Scope, into: Columns, alias?: string): void {
    if (typeof item === 'string') {
      const ref = parseColumn(item, alias);
      if (ref.column === '*') scope.star(ref.qualifier, into.read);
      else {
        const target = scope.resolve(ref);
        if (target) add(into.read, ref.key, target);
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
  const analysis = new Analysis(tables, builder.client);
  const scope = analysis.scopeOf(builder, undefined);
  analysis.checks(builder, scope);
  const method = builder._method;
  const result = columns();
  let shape: QueryPlan['shape'] = 'none';
  let pluck: ColumnTarget | undefined;
  if (method === 'select' || method === 'first') {
    analysis.selected(builder, scope, result);
    shape = method === 'first' ? 'first' : 'rows';
  } else if (method === 'pluck') {
    const column = builder._single.pluck;
    if (typeof column === 'string') pluck = scope.resolve(parseColumn(column));
    shape = 'pluck';
  } else if (RETURNS.has(method) && builder._single.returning !== undefined) {
    const target = new Scope(scope.entries.slice(0, 1), undefined, tables.identifiers);
    analysis.returning(builder._single.returning, target, result);
    shape = 'rows';
  }
  const counter = builder._single.counter;
  if (typeof counter === 'object' && counter !== null) {
    analysis.refuse(Object.keys(counter), scope, 'increment or decrement');
  }
  if (!analysis.involved) return undefined;
  const write = WRITES.has(method) ? writeTargets(scope) : undefined;
  return { write, shape, read: result.read, plain: result.plain, pluck };
}
