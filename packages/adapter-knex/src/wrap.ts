/** `withCmek`: a Knex instance whose query builders encrypt and decrypt configured tables. */
import { pipeline } from 'node:stream';
import {
  CmekConfigError,
  CmekQueryError,
  type Envelope,
  envelopeOption,
  isTenantEnvelope,
  type RowStore,
} from '@cmek/core';
import type { Knex } from 'knex';
import { type CheckColumnsOptions, type ColumnWidth, checkColumns } from './column-check';
import { identifiersOf } from './identifiers';
import { type BuilderState, isPlainObject, objectUpdatesOf } from './internals';
import { lookupTable } from './lookup';
import {
  normaliseTables,
  type TableConfig,
  type TableConfigs,
  type WithCmekOptions,
} from './options';
import { planQuery, type QueryPlan } from './plan';
import { applyRewrites } from './query-rules';
import { decryptingStream, decryptResult, decryptRowsInPlace } from './read';
import { redactInPlace, secretsOf } from './redact';
import { knexRowStore } from './row-store';
import { checkReturning } from './tenant';
import { encryptPending, encryptRows, tableTargets } from './write';

/** What `withCmek` adds to the Knex instance it returns (and to its transactions). */
export interface CmekKnexHelpers {
  /**
   * A copy of `row` with the table's encrypted columns encrypted, for `knex.raw` writes
   * (raw SQL is not intercepted).
   */
  encryptRow(
    table: string,
    row: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown>>;
  /** Decrypts the table's encrypted columns of rows read with `knex.raw`, in place; returns them. */
  decryptRows<T extends Record<string, unknown>>(table: string, rows: T[]): Promise<T[]>;
  /** A `RowStore` over a configured table, for backfill / rotate / verify. */
  rowStore(table: string): RowStore;
  /**
   * Checks at startup that each encrypted column is wide enough for its ciphertext; throws
   * `CmekConfigError` naming each column that is not, with the length it needs.
   */
  checkColumns(options?: CheckColumnsOptions): Promise<ColumnWidth[]>;
}

export type CmekKnex<K extends Knex = Knex> = K & CmekKnexHelpers;

interface Context {
  readonly envelope: Envelope;
  readonly tables: TableConfigs;
  readonly plain: Knex;
}

const WRAPPED = Symbol.for('cmek.knex.wrapped');

type Then = (this: BuilderState, onFulfilled?: unknown, onRejected?: unknown) => Promise<unknown>;
type Settle = Parameters<Promise<unknown>['then']>;

function protoOf(builder: BuilderState): Record<string, unknown> {
  return Object.getPrototypeOf(builder) as Record<string, unknown>;
}

async function run(builder: BuilderState, plan: QueryPlan, ctx: Context): Promise<unknown> {
  const protoThen = protoOf(builder).then as Then;
  if (plan.write && plan.read.size > 0) checkReturning(plan.read, builder._single.returning);
  const restore = plan.write
    ? await encryptPending(ctx.envelope, ctx.tables.indexer, plan.write, builder)
    : undefined;
  const unlook = applyRewrites(plan.lookups);
  let result: unknown;
  try {
    result = await protoThen.call(builder);
  } catch (error) {
    // the builder still holds the encrypted values here: the statement's bound values
    throw plan.write ? redactInPlace(error, secretsOf(builder)) : error;
  } finally {
    unlook();
    restore?.();
  }
  return decryptResult(ctx.envelope, plan, result, ctx.tables.identifiers);
}

function patchBuilder<T>(value: T, ctx: Context): T {
  const builder = value as unknown as BuilderState & Record<string | symbol, unknown>;
  if (builder[WRAPPED]) return value;
  Object.defineProperty(builder, WRAPPED, { value: true });
  // biome-ignore lint/suspicious/noThenProperty: a Knex builder is a thenable; its execution is what is wrapped
  builder.then = function then(this: BuilderState, ...settle: Settle) {
    let plan: QueryPlan | undefined;
    try {
      plan = planQuery(this, ctx.tables);
    } catch (error) {
      return Promise.reject(error).then(...settle);
    }
    if (plan === undefined) return (protoOf(this).then as Then).apply(this, settle);
    return run(this, plan, ctx).then(...settle);
  } as BuilderState['then'];
  builder.stream = function stream(this: BuilderState, ...args: unknown[]) {
    const plan = planQuery(this, ctx.tables);
    const protoStream = protoOf(this).stream as (...a: unknown[]) => NodeJS.ReadableStream;
    if (plan === undefined) return protoStream.apply(this, args);
    if (plan.write || plan.shape === 'pluck' || args.some((a) => typeof a === 'function')) {
      const column = plan.write?.table?.columns.values().next().value ?? 'stream';
      throw new CmekQueryError(
        column,
        'streams over encrypted tables support reads only, in the stream(options) form; await the query instead',
      );
    }
    // a stream's builder is not run again: its lookups stay rewritten
    applyRewrites(plan.lookups);
    const source = protoStream.apply(this, args);
    const out = decryptingStream(ctx.envelope, plan, ctx.tables.identifiers);
    pipeline(source, out, () => undefined);
    return out;
  };
  builder.pipe = function pipe(
    this: BuilderState,
    writable: NodeJS.WritableStream,
    options?: unknown,
  ) {
    return (this as unknown as { stream(o?: unknown): NodeJS.ReadableStream })
      .stream(options)
      .pipe(writable);
  };
  builder.update = function update(this: BuilderState, ...args: unknown[]) {
    const [column, value] = args;
    if (typeof column === 'string' && isPlainObject(value)) {
      objectUpdatesOf(this, true)!.set(column, JSON.stringify(value));
    }
    return (protoOf(this).update as (...a: unknown[]) => unknown).apply(this, args);
  };
  builder.clone = function clone(this: BuilderState) {
    const copy = patchBuilder((protoOf(this).clone as () => BuilderState).call(this), ctx);
    for (const [column, json] of objectUpdatesOf(this) ?? []) {
      objectUpdatesOf(copy, true)!.set(column, json);
    }
    return copy;
  };
  return value;
}

function configured(ctx: Context, table: string): TableConfig {
  const config = typeof table === 'string' ? lookupTable(ctx.tables, table) : undefined;
  if (!config) {
    throw new CmekQueryError(
      table,
      `the table '${table}' is not configured in withCmek({ tables })`,
    );
  }
  return config;
}

function helpers(ctx: Context): CmekKnexHelpers {
  return {
    async encryptRow(table, row) {
      const [out] = await encryptRows(
        ctx.envelope,
        ctx.tables.indexer,
        tableTargets(configured(ctx, table)),
        [{ ...row }],
      );
      return out!;
    },
    async decryptRows(table, rows) {
      const config = configured(ctx, table);
      const read = new Map(
        [...config.columns].map((column) => [column, { table: config, column }]),
      );
      await decryptRowsInPlace(ctx.envelope, read, rows, ctx.tables.identifiers);
      return rows;
    },
    rowStore(table) {
      const config = configured(ctx, table);
      return knexRowStore({
        knex: ctx.plain,
        table: config.name,
        primaryKey: config.primaryKey,
        columns: [...config.columns],
        ...(config.tenantColumn === undefined
          ? {}
          : { tenantColumn: config.tenantColumn, tenantKey: config.tenantKey! }),
        context: Object.fromEntries(config.contexts),
        ...(config.indexes.size === 0 ? {} : { blindIndexes: Object.fromEntries(config.indexes) }),
      });
    },
    checkColumns(options) {
      return checkColumns(ctx.plain, ctx.envelope, ctx.tables, options);
    },
  };
}

type TransactionFn = (container?: unknown, config?: unknown) => Promise<unknown>;

function wrapKnex<K extends Knex>(knex: K, ctx: Context): CmekKnex<K> {
  const extra = helpers(ctx) as unknown as Record<string | symbol, unknown>;
  const target = knex as unknown as Record<string | symbol, unknown> & {
    queryBuilder(): BuilderState;
    transaction: TransactionFn;
    transactionProvider(config?: unknown): () => Promise<Knex>;
    withUserParams(params: Record<string, unknown>): Knex;
  };
  const queryBuilder = () => patchBuilder(target.queryBuilder(), ctx);
  const transaction = (container?: unknown, config?: unknown): Promise<unknown> => {
    if (typeof container === 'function') {
      return target.transaction(
        (trx: Knex.Transaction) => (container as (t: unknown) => unknown)(wrapKnex(trx, ctx)),
        config,
      );
    }
    return target.transaction(container, config).then((trx) => wrapKnex(trx as Knex, ctx));
  };
  const overrides: Record<string | symbol, unknown> = {
    queryBuilder,
    transaction,
    ...(typeof target.savepoint === 'function' ? { savepoint: transaction } : {}),
    transactionProvider(config?: unknown) {
      let trx: Promise<unknown> | undefined;
      return () => {
        trx ??= transaction(undefined, config);
        return trx;
      };
    },
    // Knex's batchInsert runs `client.transaction(tr => tr(table).insert(chunk))` on the
    // instance it is called on; run it over this wrapped instance so the chunks are encrypted.
    batchInsert(...args: unknown[]) {
      const context = (target.context as { batchInsert: (...a: unknown[]) => unknown }).batchInsert;
      return context.apply({ transaction }, args);
    },
    withUserParams(params: Record<string, unknown>) {
      return wrapKnex(target.withUserParams(params), ctx);
    },
    [WRAPPED]: true,
  };
  return new Proxy(knex, {
    apply(_fn, _this, args: unknown[]) {
      const [table, options] = args;
      const builder = queryBuilder() as unknown as { table(t: unknown, o?: unknown): unknown };
      return table ? builder.table(table, options) : builder;
    },
    get(fn, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      if (Object.hasOwn(extra, prop)) return extra[prop];
      return Reflect.get(fn, prop, receiver);
    },
  }) as CmekKnex<K>;
}

/**
 * Wraps a Knex instance: query builders on the configured tables encrypt what they write and
 * decrypt what they read. The instance you pass is left as it is (a plain Knex, useful to read
 * the stored ciphertext); use the returned one in the application.
 */
export function withCmek<K extends Knex>(knex: K, options: WithCmekOptions): CmekKnex<K> {
  if (
    typeof knex !== 'function' ||
    typeof (knex as { queryBuilder?: unknown }).queryBuilder !== 'function'
  ) {
    throw new CmekConfigError('withCmek needs a Knex instance as its first argument');
  }
  if ((knex as unknown as Record<symbol, unknown>)[WRAPPED]) {
    throw new CmekConfigError(
      'this Knex instance is already wrapped by withCmek; pass the plain instance (values would be encrypted twice)',
    );
  }
  envelopeOption(options?.envelope, 'withCmek');
  const tables = normaliseTables(
    options.tables,
    identifiersOf(knex),
    options.indexer,
    isTenantEnvelope(options.envelope) ? options.envelope.tenantKey : undefined,
  );
  return wrapKnex(knex, { envelope: options.envelope, tables, plain: knex });
}
