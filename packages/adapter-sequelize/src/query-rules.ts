/**
 * Refusing what the database cannot answer on ciphertext: a `where` (any operator, any nesting,
 * `$nested.column$` keys, `sequelize.where(col(...))`), an `order` or `group` on an encrypted
 * field, and an SQL function or aggregate of one in `attributes` (`Model.max`, `min`, `sum`,
 * `aggregate`, `fn(...)`). On a field with a blind index, an equality, `IN` or null test in a
 * where is let through: `lookup.ts` rewrites it onto the index.
 */
import { CmekQueryError } from '@cmek/core';
import { Op, Utils } from 'sequelize';
import { lookupPath, lookupValues } from './lookup-form';
import { configOf, type FieldConfig, type FieldSet, fieldNamed } from './options';

/** The slice of a validated `include` entry the query rules and the decrypter read. */
export interface IncludeLike {
  readonly model?: unknown;
  readonly as?: string;
  readonly where?: unknown;
  readonly include?: readonly IncludeLike[];
  readonly attributes?: unknown;
}

const NO_MATCH = 'cannot match ciphertext; look the rows up by another column';

export function queryError(field: FieldConfig, what: string, outcome = NO_MATCH): CmekQueryError {
  return new CmekQueryError(
    field.qualified,
    `${field.display} is encrypted: ${what} on it ${outcome}`,
  );
}

/** Resolves a column reference to an encrypted field, or undefined. */
export type Resolve = (path: readonly string[]) => FieldConfig | undefined;

export function ownResolver(
  config: FieldSet | undefined,
  include: readonly IncludeLike[] | undefined,
  names: readonly string[],
): Resolve {
  return (path) => {
    if (path.length === 0) return undefined;
    if (path.length === 1) return config ? fieldNamed(config, path[0]!) : undefined;
    // `$Alias.nested.column$` walks the include tree; `Model.column` names the model itself.
    const [head, ...rest] = path;
    if (names.includes(head!)) return ownResolver(config, include, names)(rest);
    const child = include?.find((inc) => inc.as === head);
    if (child === undefined) return undefined;
    const childConfig = configOf(child.model);
    return ownResolver(childConfig, child.include, [])(rest);
  };
}

function isSequelizeMethod(value: unknown): boolean {
  return value instanceof Utils.SequelizeMethod;
}

const WHERE = 'a where';
const NEGATED = 'a negated where (Op.not)';

/** A filter on `field` that `lookup.ts` rewrites onto its blind index (or leaves as IS NULL). */
function isLookup(field: FieldConfig, key: string, value: unknown): boolean {
  return (
    field.indexes.length > 0 && lookupPath(key) !== undefined && lookupValues(value) !== undefined
  );
}

/** Every column a where / order fragment references, walked recursively. */
function walk(value: unknown, resolve: Resolve, what: string, depth = 0, outcome = NO_MATCH): void {
  if (depth > 64 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, resolve, what, depth + 1, outcome);
    return;
  }
  if (isSequelizeMethod(value)) {
    const method = value as {
      col?: unknown;
      attribute?: unknown;
      logic?: unknown;
      args?: unknown;
      val?: unknown;
      conditions?: unknown;
    };
    if (typeof method.col === 'string') {
      const field = resolve(method.col.replace(/^\$|\$$/g, '').split('.'));
      if (field) throw queryError(field, what, outcome);
    }
    if (Array.isArray(method.col)) {
      const field = resolve(method.col.filter((p): p is string => typeof p === 'string'));
      if (field) throw queryError(field, what, outcome);
    }
    if ('attribute' in method) {
      if (typeof method.attribute === 'string') {
        const field = resolve(method.attribute.split('.'));
        if (field) throw queryError(field, what, outcome);
      } else walk(method.attribute, resolve, what, depth + 1, outcome);
      walk(method.logic, resolve, what, depth + 1, outcome);
    }
    walk(method.args, resolve, what, depth + 1, outcome);
    walk(method.val, resolve, what, depth + 1, outcome);
    walk(method.conditions, resolve, what, depth + 1, outcome);
    return;
  }
  if (Buffer.isBuffer(value) || value instanceof Date) return;
  for (const key of Object.keys(value)) {
    const inner = (value as Record<string, unknown>)[key];
    // `$a.b.c$` is a path through the include tree; a bare dotted key is a JSON path whose first
    // segment is the attribute.
    const path =
      key.startsWith('$') && key.endsWith('$') ? key.slice(1, -1).split('.') : [key.split('.')[0]!];
    const field = resolve(path);
    // `field = value`, `IN`, `IS NULL` on a field with a blind index: answered on the index
    if (field && what === WHERE && isLookup(field, key, inner)) continue;
    if (field) throw queryError(field, what, outcome);
    // Under an attribute, nested keys are operators or JSON paths; only column references matter.
    walkOperands(inner, resolve, what, depth + 1, outcome);
  }
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    // a lookup under a negation is refused: a row whose index is not written yet would not match
    const inner = symbol === Op.not && what === WHERE ? NEGATED : what;
    walk((value as Record<symbol, unknown>)[symbol], resolve, inner, depth + 1, outcome);
  }
}

/** The operand of an attribute: operators (`{ [Op.in]: [...] }`) may hold `col()` or nested logic. */
function walkOperands(
  value: unknown,
  resolve: Resolve,
  what: string,
  depth: number,
  outcome: string,
): void {
  if (depth > 64 || value === null || typeof value !== 'object') return;
  if (isSequelizeMethod(value)) {
    walk(value, resolve, what, depth, outcome);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) walkOperands(item, resolve, what, depth + 1, outcome);
    return;
  }
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    walkOperands((value as Record<symbol, unknown>)[symbol], resolve, what, depth + 1, outcome);
  }
}

const COMPUTED =
  'would compute on ciphertext, not on the values; read the field and compute in the application';

/** A name fit for a message: `max`, `lower`; anything else is "an SQL function". */
function functionName(value: unknown): string {
  const name = (value as { fn?: unknown }).fn;
  return typeof name === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(name)
    ? `${name.toLowerCase()}()`
    : 'an SQL function';
}

/** `count(col)`: counting the non-null values of a column is as right on ciphertext as on plaintext. */
function isPlainCount(value: unknown): boolean {
  if (!(value instanceof Utils.Fn)) return false;
  const { fn, args } = value as unknown as { fn?: unknown; args?: unknown };
  return (
    typeof fn === 'string' &&
    fn.toLowerCase() === 'count' &&
    Array.isArray(args) &&
    args.length === 1 &&
    (args[0] instanceof Utils.Col || typeof args[0] === 'string')
  );
}

/**
 * `attributes`: a column (by name, or `col()`) is read and decrypted; an SQL function or
 * aggregate of an encrypted one (`max`, `min`, `sum`, `lower`, `count(DISTINCT ...)`) is refused.
 * A `literal` is opaque SQL and is not looked into.
 */
function walkAttributes(attributes: unknown, resolve: Resolve): void {
  if (!Array.isArray(attributes)) return;
  for (const item of attributes) {
    const expression: unknown = Array.isArray(item) ? item[0] : item;
    if (!isSequelizeMethod(expression) || expression instanceof Utils.Col) continue;
    if (isPlainCount(expression)) continue;
    walk(expression, resolve, functionName(expression), 0, COMPUTED);
  }
}

/** The resolver inside an include of a model with encrypted fields (else undefined). */
export function includeResolver(inc: IncludeLike): Resolve | undefined {
  const config = configOf(inc.model);
  if (!config) return undefined;
  // Inside an include, `alias.column` and `Model.column` name the included model itself.
  const table = config.model.getTableName();
  const names = [config.model.name, ...(inc.as ? [inc.as] : [])];
  if (typeof table === 'string') names.push(table);
  return ownResolver(config, inc.include, names);
}

function walkIncludes(includes: readonly IncludeLike[] | undefined, depth = 0): void {
  if (!includes || depth > 16) return;
  for (const inc of includes) {
    const resolve = includeResolver(inc);
    if (resolve) {
      if (inc.where !== undefined) walk(inc.where, resolve, WHERE);
      walkAttributes(inc.attributes, resolve);
    }
    walkIncludes(inc.include, depth + 1);
  }
}

export interface FindLike {
  readonly where?: unknown;
  readonly attributes?: unknown;
  readonly order?: unknown;
  readonly include?: readonly IncludeLike[];
  readonly having?: unknown;
  readonly group?: unknown;
}

/**
 * Throws `CmekQueryError` when the options filter, sort or group on an encrypted field of the
 * model (`config`, possibly undefined for a plain model) or of any included model, or compute
 * an SQL function or aggregate of one. `names` are the prefixes that mean the model itself in a
 * column reference (`Integration.secret`): its name and its table's.
 */
export function assertQueryable(
  config: FieldSet | undefined,
  options: FindLike | undefined,
  names: readonly string[],
): void {
  if (!options) return;
  const resolve = ownResolver(config, options.include, names);
  if (options.where !== undefined) walk(options.where, resolve, WHERE);
  if (options.having !== undefined) walk(options.having, resolve, 'a having');
  if (options.order !== undefined) walkOrder(options.order, resolve);
  if (options.group !== undefined) walkOrder(options.group, resolve);
  walkAttributes(options.attributes, resolve);
  walkIncludes(options.include);
}

function walkOrder(order: unknown, resolve: Resolve): void {
  const items = Array.isArray(order) ? order : [order];
  for (const item of items) {
    if (typeof item === 'string') {
      const field = resolve([item]);
      if (field) throw queryError(field, 'an order');
    } else if (Array.isArray(item)) {
      // [attr, dir] or [Assoc, attr, dir] or [{ model, as }, attr, dir]
      const strings = item.filter((p): p is string => typeof p === 'string');
      const head = strings[0];
      if (head !== undefined) {
        const models = item.filter((p) => typeof p !== 'string');
        if (models.length === 0) {
          const field = resolve([head]);
          if (field) throw queryError(field, 'an order');
        } else {
          const last = models[models.length - 1] as { model?: unknown } | undefined;
          const target = configOf(last?.model ?? last);
          const field = target ? fieldNamed(target, head) : undefined;
          if (field) throw queryError(field, 'an order');
        }
      }
      walk(
        item.filter((p) => isSequelizeMethod(p)),
        resolve,
        'an order',
      );
    } else walk(item, resolve, 'an order');
  }
}
