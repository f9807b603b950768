/**
 * Refusal of what the database would apply to ciphertext: a filter, a comparison, a sort, a
 * group, a distinct, an aggregate or an increment on an encrypted column, and a subquery that
 * selects one. Each is a `CmekQueryError` thrown before any SQL is sent. Raw SQL is not parsed.
 */
import { CmekQueryError } from '@cmek/core';
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

/** The rules of one query, subqueries included (walked through the planner). */
export class QueryRules {
  constructor(
    private readonly client: ClientLike,
    private readonly nested: SubqueryWalk,
  ) {}

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
          const inner = scratchBuilder(this.client, s.value as () => void);
          this.conditions(
            inner._statements.filter((x) => x.grouping === 'where' || x.grouping === 'having'),
            scope,
          );
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
      if (!NULL_CHECKS.has(type)) this.refuse(s.column, scope, 'filter on');
      if (s.asColumn || type === 'onBasic') this.refuse(s.value, scope, 'compare');
      else this.subqueryValue(s.value, scope, 'in');
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

  /** `increment()` / `decrement()` of an encrypted column. */
  counter(builder: BuilderState, scope: Scope): void {
    const counter = builder._single.counter;
    if (typeof counter === 'object' && counter !== null) {
      this.refuse(Object.keys(counter), scope, 'increment or decrement');
    }
  }
}
