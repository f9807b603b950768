/**
 * `withCmek(db, options)`: the Drizzle database, with every query builder it hands out watched.
 *
 * Drizzle's custom column types map values synchronously, and a KEK call is not synchronous. So
 * the wrapper does the work around the query instead: a builder's `execute` (what `await`
 * calls) first builds the statement, refuses a filter, sort or group on an encrypted column,
 * encrypts the values bound to encrypted columns in one awaited batch per column (the DEK
 * leased from the envelope's cache), runs that very statement, and decrypts the encrypted
 * columns of the rows it returns. The synchronous ways to run a builder (`.run()`, `.all()`,
 * `.get()`, `.values()`, `.sync()`, `.iterator()`, `.prepare()`) cannot await a KEK call: they
 * are refused when they would write plaintext or read ciphertext.
 */
import {
  blindIndexCells,
  CmekConfigError,
  CmekQueryError,
  type Envelope,
  groupByTenant,
  openCells,
  type RowCounter,
  type RowStore,
  sealCells,
} from '@cmek/core';
import { type Column, entityKind, getTableName, is, Subquery, type Table } from 'drizzle-orm';
import { type CheckColumnsOptions, type ColumnWidth, checkColumns } from './column-check';
import { columnIdentity, isColumn, tableColumns, tableIdentity } from './columns';
import { dialectOf } from './dialect';
import { rewriteLookups, rewriteRelationalLookups } from './index-lookup';
import { addIndexParams, fillIndexParams, indexParams, unfilledIndex } from './index-write';
import {
  encryptedField,
  type FieldConfig,
  normaliseOptions,
  type WithCmekOptions,
} from './options';
import {
  type RelationalSchema,
  type RelationalTable,
  refuseConflictConfig,
  refused,
  refuseEncrypted,
  refuseFilters,
  refuseRelational,
  refuseSqlValues,
} from './query-rules';
import {
  decryptRelational,
  decryptRows,
  type ReadCell,
  relatedTableOf,
  type SelectedColumn,
  selectionPlan,
  withTenants,
} from './read';
import { redactError } from './redact';
import { drizzleRowStore } from './row-store';
import { walkSql } from './sql-walk';
import { contextOf, tenantId, tenantKeyFor, traceConflictSet, traceRow, traceSet } from './tenant';
import { encryptedParams, sealParams } from './write';

export interface CmekDrizzleHelpers {
  /**
   * Checks that each encrypted column is wide enough for its ciphertext (from the lengths the
   * schema declares); throws `CmekConfigError` naming each column that is not.
   */
  checkColumns(options?: CheckColumnsOptions): Promise<ColumnWidth[]>;
  /** A `RowStore` over a configured table, for backfill / rotate / verify. */
  rowStore(table: Table): RowStore & RowCounter;
  /**
   * A copy of `row` (keyed as the table definition) with its encrypted columns encrypted, and the
   * blind-index columns of the indexed ones filled: for raw SQL, and for a synchronous
   * better-sqlite3 transaction, which cannot await a KEK call.
   */
  encryptRow<R extends Record<string, unknown>>(table: Table, row: R): Promise<R>;
  /** Decrypts the table's encrypted columns (keyed as the table definition) of rows, in place. */
  decryptRows<R extends Record<string, unknown>>(table: Table, rows: R[]): Promise<R[]>;
  /** The envelope the database encrypts with. */
  readonly envelope: Envelope;
}

/** The wrapped database: the same type as the one given, plus `$cmek`. */
export type CmekDatabase<D> = D & { readonly $cmek: CmekDrizzleHelpers };

type Obj = Record<string | symbol, unknown>;
type Fn = (...args: unknown[]) => unknown;

/** Methods that add a condition, a sort, a group or a join: checked after each call. */
const FILTER_METHODS = [
  'where',
  'having',
  'orderBy',
  'groupBy',
  'leftJoin',
  'rightJoin',
  'innerJoin',
  'fullJoin',
  'crossJoin',
  'leftJoinLateral',
  'innerJoinLateral',
  'crossJoinLateral',
];
/** Ways to run a builder without awaiting `execute`. */
const SYNC_METHODS = ['run', 'all', 'get', 'values', 'sync', 'iterator', 'prepare'];
/** Entry points of a database (or transaction) that hand out builders. */
const BUILDER_ENTRIES = new Set([
  'select',
  'selectDistinct',
  'selectDistinctOn',
  'insert',
  'update',
  'delete',
]);
/** Methods of an unfinished builder (`db.select()`, `db.insert(t)`, `db.update(t)`). */
const STEP_METHODS = new Set(['from', 'values', 'set', 'select']);

const PATCHED = Symbol('cmek.drizzle.patched');

function kindOf(builder: object): string {
  return String((builder.constructor as unknown as Obj | undefined)?.[entityKind] ?? '');
}

interface BuilderConfig {
  readonly table?: Table;
  readonly fields?: unknown;
  readonly values?: readonly Record<string, unknown>[];
  readonly set?: Record<string, unknown>;
  readonly select?: unknown;
  readonly returning?: unknown;
  readonly returningFields?: unknown;
}

interface Builder extends Obj {
  config: BuilderConfig;
  getSQL(): unknown;
  dialect?: unknown;
}

export function withCmek<D extends object>(db: D, options: WithCmekOptions): CmekDatabase<D> {
  if (dialectOf(db) === undefined || typeof (db as Obj).select !== 'function') {
    throw new CmekConfigError(
      'withCmek needs a Drizzle database (drizzle(...) of a PostgreSQL, MySQL or SQLite driver)',
    );
  }
  if ((db as Obj)[PATCHED]) {
    throw new CmekConfigError('withCmek was given a database it already wrapped');
  }
  const config = normaliseOptions(options);
  const running = new WeakSet<object>();
  /** The SQL of the subqueries and CTEs made through the wrapped database (checked then). */
  const checked = new WeakSet<object>();

  const configuredTable = (table: Table): Table => {
    if (!config.tables.has(tableIdentity(table))) {
      throw new CmekConfigError(`${getTableName(table)} is not configured in withCmek's tables`);
    }
    return table;
  };
  const keysOf = (table: Table) =>
    Object.entries(tableColumns(configuredTable(table)))
      .map(([key, c]) => [key, encryptedField(config, c)] as const)
      .filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== undefined);

  const helpers: CmekDrizzleHelpers = {
    envelope: config.envelope,
    checkColumns: (o) => checkColumns(config, o),
    rowStore(table) {
      const keys = keysOf(table);
      const tenant = keys[0]?.[1].tenant;
      return drizzleRowStore({
        db,
        table,
        columns: keys.map(([key]) => key),
        ...(tenant === undefined
          ? {}
          : { tenantColumn: tenant.key, tenantKey: config.tenantKey ?? 'tenant' }),
        context: Object.fromEntries(keys.map(([key, f]) => [key, f.context])),
        blindIndexes: Object.fromEntries(
          keys
            .filter(([, f]) => f.indexes.length > 0)
            .map(([key, f]) => [key, f.indexes.map((i) => i.spec)]),
        ),
      });
    },
    async encryptRow(table, row) {
      const keys = keysOf(table).filter(([key]) => Object.hasOwn(row, key));
      const tenantOf = (f: FieldConfig) =>
        f.tenant === undefined ? undefined : tenantId(row[f.tenant.key]);
      const sealed = await sealCells(
        config.envelope,
        keys.map(([key, f]) => ({
          label: f.label,
          context: contextOf(config, f, tenantOf(f)),
          values: [row[key]],
        })),
      );
      const out: Record<string, unknown> = { ...row };
      for (const [i, [key]] of keys.entries()) out[key] = sealed[i]!.stored[0];
      const indexed = keys.flatMap(([, f], i) => (f.indexes.length > 0 ? [[f, i] as const] : []));
      if (indexed.length > 0) {
        const computed = await blindIndexCells(
          config.indexer!,
          indexed.map(([f, i]) => ({
            label: f.indexLabel,
            context: f.context,
            indexes: f.indexes.map((x) => x.spec),
            plaintexts: sealed[i]!.plaintexts,
          })),
        );
        for (const [n, [f]] of indexed.entries()) {
          for (const [j, index] of f.indexes.entries()) out[index.key] = computed[n]![j]!.values[0];
        }
      }
      return out as typeof row;
    },
    async decryptRows(table, rows) {
      // one decryptMany per column and tenant (the row's tenant column)
      const groups = groupByTenant(
        keysOf(table).flatMap(([key, field]) =>
          rows
            .filter((row) => Object.hasOwn(row, key))
            .map((row) => ({
              field,
              tenant: field.tenant === undefined ? undefined : tenantId(row[field.tenant.key]),
              item: [row as Record<string, unknown>, key] as const,
            })),
        ),
        tenantKeyFor(config),
      );
      const opened = await openCells(
        config.envelope,
        groups.map(({ field, context, items }) => ({
          label: field.label,
          context,
          values: items.map(([row, key]) => row[key] as string | null),
        })),
      );
      for (const [g, { items }] of groups.entries()) {
        for (const [i, [row, key]] of items.entries()) row[key] = opened[g]![i];
      }
      return rows;
    },
  };

  /** What a builder reads back: the planned cells of its rows (select, returning). */
  const readPlan = (builder: Builder): ReadCell[] => {
    const kind = kindOf(builder);
    const c = builder.config;
    if (/Select/.test(kind)) return selectionPlan(config, c.fields);
    if (Array.isArray(c.returning)) {
      const out: ReadCell[] = [];
      const selected: SelectedColumn[] = [];
      for (const { path, field } of c.returning as { path: string[]; field: unknown }[]) {
        if (isColumn(field)) {
          selected.push({ path, identity: columnIdentity(field) });
          const f = encryptedField(config, field);
          if (f) out.push({ path, field: f });
        } else refuseEncrypted(config, field, 'compute on');
      }
      return withTenants(out, selected);
    }
    return c.returningFields ? selectionPlan(config, c.returningFields) : [];
  };

  /**
   * The checks of one builder before its statement is built: the one that runs, or one nested in
   * its statement (a CTE of `db.$with`, a subquery, a set operator's right side, built with the
   * wrapped database or not), whose lookups are rewritten here too.
   */
  const prepare = (builder: Builder): Set<string | null> => {
    const c = builder.config as BuilderConfig & { where?: unknown };
    if (c.where !== undefined) c.where = rewriteLookups(config, c.where);
    refuseFilters(config, c as never);
    const table = c.table;
    /** The tenants the statement writes (a tenant table): its rows', or its set's / filter's. */
    const tenants = new Set<string | null>();
    if (table && /Insert|Update/.test(kindOf(builder))) {
      const columns = tableColumns(table);
      if (c.select && config.tables.has(tableIdentity(table))) {
        const first = [...config.fields.values()].find((f) =>
          Object.values(columns).includes(f.column),
        );
        throw new CmekQueryError(
          first?.label ?? getTableName(table),
          `insert().select() into ${getTableName(table)}, which has encrypted columns, cannot encrypt the selected values; select them, then insert().values()`,
        );
      }
      for (const row of Array.isArray(c.values) ? c.values : []) {
        refuseSqlValues(config, columns, row, 'values()');
        addIndexParams(config, columns, row as Record<string, unknown>, 'values()');
        traceRow(config, columns, row as Record<string, unknown>, tenants);
      }
      refuseSqlValues(config, columns, c.set, 'set()');
      if (c.set) {
        addIndexParams(config, columns, c.set, 'set()');
        traceSet(config, columns, c.set, c.where, tenants);
      }
    }
    return tenants;
  };

  /**
   * The statement of `builder`, built once. MySQL's insert builds it again when it runs (with
   * its `$defaultFn` values and the ids it generated), so the ids are kept to hand back then.
   */
  const build = (builder: Builder): { statement: unknown; generatedIds?: unknown } => {
    const dialect = builder.dialect as { buildInsertQuery?: Fn } | undefined;
    if (/MySqlInsert/.test(kindOf(builder)) && typeof dialect?.buildInsertQuery === 'function') {
      const built = dialect.buildInsertQuery.call(dialect, builder.config) as {
        sql: unknown;
        generatedIds: unknown;
      };
      return { statement: built.sql, generatedIds: built.generatedIds };
    }
    return { statement: builder.getSQL() };
  };

  /** A union, intersect or except compares whole rows: refused over an encrypted column. */
  const refuseSetOperators = (builder: Builder, plan: readonly ReadCell[]) => {
    const ops = (builder.config as { setOperators?: unknown }).setOperators;
    for (const op of Array.isArray(ops) ? ops : []) {
      const { type, isAll, rightSelect } = op as { type: string; isAll: boolean; rightSelect: Obj };
      if (type === 'union' && isAll) continue;
      const right = (rightSelect?.config as BuilderConfig | undefined)?.fields;
      const cell = plan[0] ?? selectionPlan(config, right)[0];
      if (cell) throw refused(cell.field, `compare (${type}${isAll ? ' all' : ''}) rows on`);
    }
  };

  /**
   * A subquery or CTE (`.as(…)`) is built into SQL when it is made: one made through the wrapped
   * database had its checks then (`checked`); one made outside it (a standalone `QueryBuilder`)
   * is refused when its SQL names an encrypted column outside a single-table selection or binds
   * a value for one: its filter would compare ciphertext.
   */
  const refuseUnchecked = (builder: Builder, statement: unknown) => {
    const c = builder.config as BuilderConfig & { withList?: unknown; joins?: unknown };
    const joins = Array.isArray(c.joins) ? (c.joins as { table?: unknown }[]) : [];
    // CTEs and subqueries in FROM / JOIN are rendered from their SQL, the others are walked
    const sources = [
      ...(Array.isArray(c.withList) ? c.withList : []),
      c.table,
      ...joins.map((j) => j.table),
    ];
    const check = (sq: { readonly _: { readonly sql: object } }) => {
      if (checked.has(sq._.sql)) return;
      let field: FieldConfig | undefined;
      walkSql(sq._.sql, {
        column: (c) => {
          field ??= encryptedField(config, c);
        },
        param: (p) => {
          const encoder = p?.encoder as Column | undefined;
          if (encoder && typeof encoder === 'object') field ??= encryptedField(config, encoder);
        },
      });
      if (field) {
        throw new CmekQueryError(
          field.label,
          `a subquery or CTE built outside the wrapped database (a standalone QueryBuilder) names the encrypted column ${field.label} where its filter cannot be checked; build it with the wrapped database`,
        );
      }
    };
    for (const source of sources) {
      if (is(source, Subquery))
        check(source as unknown as { readonly _: { readonly sql: object } });
    }
    walkSql(statement, { subquery: check });
  };

  /** The synchronous checks of a builder; the statement as it will run, with its plan. */
  const analyse = (builder: Builder) => {
    const tenants = prepare(builder);
    const built = build(builder);
    const { statement } = built;
    refuseUnchecked(builder, statement);
    const params = encryptedParams(config, statement);
    const indexed = indexParams(statement, params);
    if (indexed.unindexed) {
      throw new CmekQueryError(
        indexed.unindexed.label,
        `a value of ${indexed.unindexed.label} is written without its blind index (a $defaultFn or $onUpdate of the column); write the value in values() or set()`,
      );
    }
    const plan = readPlan(builder);
    refuseSetOperators(builder, plan);
    return {
      statement,
      tenants,
      generatedIds: built.generatedIds,
      params,
      indexParams: indexed.params,
      plan,
    };
  };

  /** `builder.as(alias)` / `db.$with(alias).as(query)`: checked, its SQL marked as such. */
  const checkedSubquery = (subquery: unknown): unknown => {
    const inner = (subquery as { _?: { sql?: unknown } } | null)?._?.sql;
    if (typeof inner === 'object' && inner !== null) checked.add(inner);
    return subquery;
  };
  const prepared = (query: unknown): unknown => {
    const q = query as Builder | null;
    if (q && typeof q.getSQL === 'function' && typeof q.config === 'object') prepare(q);
    return query;
  };

  const patchFinal = (builder: Builder): Builder => {
    if (builder[PATCHED]) return builder;
    builder[PATCHED] = true;
    for (const name of FILTER_METHODS) {
      const original = builder[name];
      if (typeof original !== 'function') continue;
      builder[name] = (...args: unknown[]) => {
        const out = (original as Fn).apply(builder, args);
        if (name === 'where') {
          const c = builder.config as { where?: unknown };
          c.where = rewriteLookups(config, c.where);
        }
        refuseFilters(config, builder.config as never);
        return out;
      };
    }
    const as = builder.as;
    if (typeof as === 'function') {
      builder.as = (...args: unknown[]) => {
        prepare(builder);
        return checkedSubquery((as as Fn).apply(builder, args));
      };
    }
    for (const name of ['onConflictDoUpdate', 'onDuplicateKeyUpdate']) {
      const original = builder[name];
      if (typeof original !== 'function') continue;
      builder[name] = (conflict: Record<string, unknown>) => {
        const table = builder.config.table;
        if (!table || typeof conflict?.set !== 'object' || conflict.set === null) {
          return (original as Fn).call(builder, conflict);
        }
        refuseConflictConfig(config, tableColumns(table), conflict);
        const set = { ...(conflict.set as Record<string, unknown>) };
        addIndexParams(config, tableColumns(table), set, `${name}({ set })`, true);
        traceConflictSet(config, tableColumns(table), set, `${name}({ set })`);
        return (original as Fn).call(builder, { ...conflict, set });
      };
    }
    for (const name of SYNC_METHODS) {
      const original = builder[name];
      if (typeof original !== 'function') continue;
      builder[name] = (...args: unknown[]) => {
        if (!running.has(builder)) {
          const { params, plan, indexParams: indexes } = analyse(builder);
          const plain = params.find(
            ({ param }) => param.value != null && !config.envelope.isEncrypted(param.value),
          );
          const unindexed = plain ? undefined : unfilledIndex(indexes);
          const cell = plain?.field ?? unindexed ?? plan[0]?.field;
          if (cell) {
            const what = plain ? 'encrypt' : unindexed ? 'compute the blind index of' : 'decrypt';
            throw new CmekQueryError(
              cell.label,
              `.${name}() cannot ${what} ${cell.label}: it runs without awaiting a KEK call; await the query instead${plain || unindexed ? ', or write a row from $cmek.encryptRow()' : ''}`,
            );
          }
        }
        return (original as Fn).apply(builder, args);
      };
    }
    const execute = builder.execute as Fn;
    builder.execute = async (...args: unknown[]) => {
      const analysed = analyse(builder);
      const { statement, tenants, generatedIds, params, indexParams: indexes, plan } = analysed;
      const sealed = await sealParams(config, params, tenants);
      const secrets = [...sealed.secrets, ...(await fillIndexParams(config, indexes, sealed))];
      // the statement just encrypted is the one that runs ($defaultFn / $onUpdate values are
      // computed when it is built; MySQL's insert builds it through its dialect)
      builder.getSQL = () => statement;
      const dialect = builder.dialect;
      if (generatedIds !== undefined) {
        builder.dialect = Object.create(dialect as object, {
          buildInsertQuery: { value: () => ({ sql: statement, generatedIds }) },
        });
      }
      let result: unknown;
      try {
        running.add(builder);
        let pending: unknown;
        try {
          pending = execute.apply(builder, args);
        } finally {
          running.delete(builder);
        }
        result = await pending;
      } catch (error) {
        throw redactError(error, secrets);
      } finally {
        Reflect.deleteProperty(builder, 'getSQL');
        builder.dialect = dialect;
      }
      return decryptRows(config, result, plan);
    };
    return builder;
  };

  const patchRelational = (
    query: Builder & RelationalSchema & { tableConfig: RelationalTable },
  ) => {
    const schema: RelationalSchema = { schema: query.schema, tableNamesMap: query.tableNamesMap };
    query.config = rewriteRelationalLookups(config, query.config);
    refuseRelational(config, query.tableConfig, query.config as never, relatedTableOf(schema));
    const holds = (
      table: RelationalTable,
      q: { with?: Record<string, unknown> } | undefined,
    ): boolean =>
      Object.values(table.columns).some((c) => encryptedField(config, c)) ||
      Object.entries(q?.with ?? {}).some(([name, nested]) => {
        const target = relatedTableOf(schema)(table, name);
        return (
          target !== undefined &&
          holds(target, typeof nested === 'object' ? (nested as never) : undefined)
        );
      });
    for (const name of SYNC_METHODS) {
      const original = query[name];
      if (typeof original !== 'function') continue;
      query[name] = (...args: unknown[]) => {
        if (!running.has(query) && holds(query.tableConfig, query.config as never)) {
          const field = [...config.fields.values()][0]!;
          throw new CmekQueryError(
            field.label,
            `.${name}() of a relational query over encrypted columns cannot decrypt them: it runs without awaiting a KEK call; await the query instead`,
          );
        }
        return (original as Fn).apply(query, args);
      };
    }
    const execute = query.execute as Fn;
    query.execute = async (...args: unknown[]) => {
      running.add(query);
      let pending: unknown;
      try {
        pending = execute.apply(query, args);
      } finally {
        running.delete(query);
      }
      const result = await pending;
      return decryptRelational(config, result, query.tableConfig, schema);
    };
    return query;
  };

  /** A builder handed out: finished (runnable) ones are patched, unfinished ones proxied. */
  const wrapBuilder = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    const v = value as Obj;
    if (/RelationalQuery$/.test(kindOf(v)) && typeof v.execute === 'function') {
      return patchRelational(v as never);
    }
    if (typeof v.execute === 'function' && typeof v.getSQL === 'function') {
      return patchFinal(v as Builder);
    }
    return new Proxy(v, {
      get(target, prop, receiver) {
        const member = Reflect.get(target, prop, receiver);
        if (typeof prop !== 'string' || !STEP_METHODS.has(prop) || typeof member !== 'function') {
          return member;
        }
        return (...args: unknown[]) => wrapBuilder((member as Fn).apply(target, args));
      },
    });
  };

  const wrapQueryApi = (query: Obj) =>
    new Proxy(query, {
      get(target, prop, receiver) {
        const builder = Reflect.get(target, prop, receiver);
        if (typeof builder !== 'object' || builder === null) return builder;
        return new Proxy(builder as Obj, {
          get(t, p, r) {
            const member = Reflect.get(t, p, r);
            if (p !== 'findMany' && p !== 'findFirst') return member;
            return (...args: unknown[]) => wrapBuilder((member as Fn).apply(t, args));
          },
        });
      },
    });

  const wrapDatabase = (database: Obj, top: boolean): Obj =>
    new Proxy(database, {
      get(target, prop, receiver) {
        if (prop === '$cmek' && top) return helpers;
        if (prop === PATCHED) return true;
        const member = Reflect.get(target, prop, receiver);
        if (prop === 'query' && typeof member === 'object' && member !== null) {
          return wrapQueryApi(member as Obj);
        }
        if (typeof member !== 'function' || typeof prop !== 'string') return member;
        if (BUILDER_ENTRIES.has(prop)) {
          return (...args: unknown[]) => wrapBuilder((member as Fn).apply(target, args));
        }
        if (prop === '$with') {
          // a CTE: its query (or the callback's, given the wrapped query builder) is checked and
          // its index values added before Drizzle builds it into SQL
          return (...args: unknown[]) => {
            const cte = (member as Fn).apply(target, args) as Obj;
            return new Proxy(cte, {
              get(t, p, r) {
                const m = Reflect.get(t, p, r);
                if (p !== 'as' || typeof m !== 'function') return m;
                return (query: unknown) =>
                  checkedSubquery(
                    (m as Fn).call(
                      t,
                      typeof query === 'function'
                        ? (qb: Obj) => prepared((query as Fn)(wrapDatabase(qb, false)))
                        : prepared(query),
                    ),
                  );
              },
            });
          };
        }
        if (prop === 'with') {
          return (...args: unknown[]) =>
            wrapDatabase((member as Fn).apply(target, args) as Obj, false);
        }
        if (prop === 'transaction') {
          return (run: (tx: unknown) => unknown, ...rest: unknown[]) =>
            (member as Fn).call(target, (tx: Obj) => run(wrapDatabase(tx, false)), ...rest);
        }
        if (prop === 'batch') {
          // a batch runs each builder's prepared statement itself, without its `execute`: refused
          // when one of them would write plaintext to, or read ciphertext from, an encrypted column
          return (queries: unknown[], ...rest: unknown[]) => {
            for (const query of Array.isArray(queries) ? queries : []) {
              const q = query as Obj;
              const involved = /RelationalQuery$/.test(kindOf(q))
                ? [...config.fields.values()][0]
                : typeof q.getSQL === 'function'
                  ? (() => {
                      const { params, plan } = analyse(q as Builder);
                      return params[0]?.field ?? plan[0]?.field;
                    })()
                  : undefined;
              if (involved) {
                throw new CmekQueryError(
                  involved.label,
                  `db.batch() runs its queries without awaiting a KEK call, so it cannot encrypt or decrypt ${involved.label}; await the queries one by one, or in db.transaction()`,
                );
              }
            }
            return (member as Fn).call(target, queries, ...rest);
          };
        }
        if (prop === '$count') {
          return (source: unknown, filters?: unknown) => {
            const rewritten = rewriteLookups(config, filters);
            refuseEncrypted(config, rewritten, 'filter on');
            return (member as Fn).call(target, source, rewritten);
          };
        }
        return member;
      },
    });

  return wrapDatabase(db as Obj, true) as CmekDatabase<D>;
}
