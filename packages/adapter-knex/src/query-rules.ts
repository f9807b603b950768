/**
 * Refusal of what the database would apply to ciphertext: a filter, a comparison, a sort, a
 * group, a distinct, an aggregate or an increment on an encrypted column, and a subquery that
 * selects one. Each is a `CmekQueryError` thrown before any SQL is sent. Raw SQL is not parsed.
 *
 * The one exception is a lookup on a column with a blind index: `where(col, v)`,
 * `where(col, '=', v)`, `where({ col: v })`, `whereIn(col, [v…])` and their `and` / `or` forms
 * become `whereIn(<index column>, [index values])` (core's `indexLookupValues`: each value's index
 * under every loaded key during a rotation inside one column), in the query itself and in its
 * `where(function () { … })` groups. `whereNot`, `whereNotIn`, `<>` and every other operator
 * stay refused, as do lookups in `having`, in join conditions and in subqueries given as
 * functions (their builders are rebuilt when the query compiles).
 */
import { type BlindIndexer, CmekQueryError, indexLookupValues } from '@cmek/core';
import {
  type BuilderState,
  type ClientLike,
  isBuilder,
  isRaw,
  joinClausesOf,
  type Statement,
  scratchBuilder,
} from './internals';
import { parseColumn } from './names';
import type { Scope } from './scope';
import { type ColumnTarget, columnLabel } from './target';

/** Where a subquery stands: its values surface (`select`, `in`), or only its existence counts. */
export type SubqueryPosition = 'select' | 'in' | 'exists';

/** The planner's walk into a subquery: its own tables, its rules, and what it selects. */
export type SubqueryWalk = (value: unknown, parent: Scope, position: SubqueryPosition) => void;

/** Statement types whose `column` may be an encrypted column without comparing ciphertext. */
const NULL_CHECKS = new Set(['whereNull', 'havingNull', 'onNull']);
const COUNTS = new Set(['count']);

function refused(target: ColumnTarget, what: string): CmekQueryError {
  return new CmekQueryError(
    target.column,
    `cannot ${what} the encrypted column ${columnLabel(target)}: the database only holds its ciphertext, which is random; filter, sort or group on another column, or in the application after reading`,
  );
}

/** The refusal of a subquery whose values surface and that selects an encrypted column. */
export function subquerySelects(target: ColumnTarget): CmekQueryError {
  return new CmekQueryError(
    target.column,
    `a subquery selects the encrypted column ${columnLabel(target)}; its ciphertext cannot be decrypted or compared there. Select it in the outer query by name, or use knex.raw and decryptRows`,
  );
}

/** A statement of a builder replaced, while the query runs, by its lookup on the index column. */
export interface Rewrite {
  readonly statements: Statement[];
  readonly index: number;
  readonly replacement: Statement;
}

/** Puts the rewrites in the builders; returns the function that puts the statements back. */
export function applyRewrites(rewrites: readonly Rewrite[]): () => void {
  const saved = rewrites.map(({ statements, index, replacement }) => {
    const original = statements[index]!;
    statements[index] = replacement;
    return () => {
      statements[index] = original;
    };
  });
  return () => {
    for (const restore of saved.reverse()) restore();
  };
}

/** Called with a statement's lookup (its position in the list given to `conditions`). */
type Replace = (at: number, replacement: Statement) => void;

/** The rules of one query, subqueries included (walked through the planner). */
export class QueryRules {
  /** The lookups of the query's own builders, to put in place while it runs. */
  readonly rewrites: Rewrite[] = [];

  constructor(
    private readonly client: ClientLike,
    private readonly nested: SubqueryWalk,
    private readonly indexer: BlindIndexer | undefined,
  ) {}

  /**
   * The lookup `s` is on an encrypted column with a blind index, as a `whereIn` on the index
   * column; undefined when it is none (then the usual rules refuse it).
   */
  private lookup(s: Statement, scope: Scope): Statement | undefined {
    if (this.indexer === undefined || s.grouping !== 'where' || s.not === true) return undefined;
    if (typeof s.column !== 'string') return undefined;
    let values: readonly unknown[];
    if (s.type === 'whereBasic' && !s.asColumn && String(s.operator).trim() === '=') {
      values = [s.value];
    } else if (s.type === 'whereIn' && Array.isArray(s.value)) {
      values = s.value;
    } else return undefined;
    // SQL (raw, ref, a subquery) is no value to index: refused as a comparison of ciphertext
    if (values.some((v) => typeof v === 'function' || (isObject(v) && !isBytes(v)))) {
      return undefined;
    }
    const ref = parseColumn(s.column);
    const target = scope.resolve(ref);
    const index = target?.table.indexes.get(target.column)?.[0];
    if (target === undefined || index === undefined) return undefined;
    const lookup = {
      label: columnLabel(target),
      context: target.table.contexts.get(target.column)!,
      index,
    };
    return {
      grouping: s.grouping,
      type: 'whereIn',
      column: ref.qualifier === undefined ? index.column : `${ref.qualifier}.${index.column}`,
      value: indexLookupValues(this.indexer, lookup, values),
      not: false,
      ...(s.bool === undefined ? {} : { bool: s.bool }),
    };
  }

  /** A `where(function () { … })` callback whose lookups are rewritten when Knex calls it. */
  private withLookups(fn: unknown, scope: Scope): (this: BuilderState, b: unknown) => void {
    const rules = this;
    return function (this: BuilderState, b: unknown) {
      (fn as (this: unknown, b: unknown) => void).call(this, b);
      rules.rewriteIn(this._statements, scope);
    };
  }

  /** Rewrites the lookups of a builder Knex made for a group, in place (it is Knex's own). */
  private rewriteIn(statements: Statement[], scope: Scope): void {
    for (const [i, s] of statements.entries()) {
      if (s.grouping !== 'where') continue;
      if (s.type === 'whereWrapped' && typeof s.value === 'function') {
        statements[i] = { ...s, value: this.withLookups(s.value, scope) };
      } else {
        const replacement = this.lookup(s, scope);
        if (replacement) statements[i] = replacement;
      }
    }
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

  /**
   * where / having / join-on conditions. `replace`: where a lookup on an indexed column may be
   * rewritten (the query's own where statements); without it, a lookup is refused.
   */
  private conditions(statements: readonly Statement[], scope: Scope, replace?: Replace): void {
    for (const [at, s] of statements.entries()) {
      const type = s.type ?? '';
      if (type === 'whereWrapped' || type === 'havingWrapped') {
        if (typeof s.value === 'function') {
          const inner = scratchBuilder(this.client, s.value as () => void);
          let found = false;
          this.conditions(
            inner._statements.filter((x) => x.grouping === 'where' || x.grouping === 'having'),
            scope,
            replace && type === 'whereWrapped'
              ? () => {
                  found = true;
                }
              : undefined,
          );
          if (found) replace!(at, { ...s, value: this.withLookups(s.value, scope) });
        }
        continue;
      }
      if (type === 'onWrapped') {
        if (typeof s.value === 'function') {
          this.conditions(joinClausesOf(this.client, s.value), scope);
        }
        continue;
      }
      if (type === 'whereExists' || type === 'onExists' || type === 'havingExists') {
        this.subqueryValue(s.value, scope, 'exists');
        continue;
      }
      if (type.endsWith('Raw')) continue; // raw SQL is not parsed (documented)
      const lookup = replace ? this.lookup(s, scope) : undefined;
      if (lookup) {
        replace!(at, lookup);
        continue;
      }
      if (!NULL_CHECKS.has(type)) this.refuse(s.column, scope, 'filter on');
      if (s.asColumn || type === 'onBasic') this.refuse(s.value, scope, 'compare');
      else this.subqueryValue(s.value, scope, 'in');
    }
  }

  /**
   * Every filter, sort, group and aggregate of one query level. `scratch`: the builder is one the
   * adapter made from a function, which Knex makes again when it compiles: lookups there are refused.
   */
  checks(builder: BuilderState, scope: Scope, scratch = false): void {
    for (const [i, s] of builder._statements.entries()) {
      switch (s.grouping) {
        case 'where':
          this.conditions(
            [s],
            scope,
            scratch
              ? undefined
              : (_, replacement) =>
                  this.rewrites.push({ statements: builder._statements, index: i, replacement }),
          );
          break;
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

  /** `increment()` / `decrement()` of an encrypted column. */
  counter(builder: BuilderState, scope: Scope): void {
    const counter = builder._single.counter;
    if (typeof counter === 'object' && counter !== null) {
      this.refuse(Object.keys(counter), scope, 'increment or decrement');
    }
  }
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

function isBytes(value: unknown): boolean {
  return value instanceof Uint8Array;
}
