/**
 * The filters on an encrypted field that a blind index answers: `field: value`, `field: [values]`,
 * `{ [Op.eq]: value }`, `{ [Op.in]: [values] }`, and the null tests `field: null`,
 * `{ [Op.is]: null }`, `{ [Op.eq]: null }` (left on the field itself: `IS NULL`). Every other
 * operator is not one (and stays refused).
 */
import { Op, Utils } from 'sequelize';

/** The path a where key names a field by, when a lookup may use it: `tokenHash`, `$Alias.tokenHash$` (not a JSON path). */
export function lookupPath(key: string): string[] | undefined {
  if (key.length > 1 && key.startsWith('$') && key.endsWith('$'))
    return key.slice(1, -1).split('.');
  return key.includes('.') ? undefined : [key];
}

function isScalar(value: unknown): boolean {
  return typeof value === 'string' || value instanceof Uint8Array;
}

/**
 * The values an equality or `IN` filter compares the field with; `null` for a null test;
 * `undefined` when `value` is neither (another operator, an SQL expression).
 */
export function lookupValues(value: unknown): readonly unknown[] | null | undefined {
  if (value === null) return null;
  // a number or boolean too: core's indexLookupValues refuses it with CmekInvalidInputError
  if (isScalar(value) || (typeof value !== 'object' && typeof value !== 'function')) return [value];
  if (Array.isArray(value)) return value;
  if (typeof value !== 'object' || value instanceof Utils.SequelizeMethod) return undefined;
  if (value instanceof Date || Object.keys(value).length > 0) return undefined;
  const symbols = Object.getOwnPropertySymbols(value);
  if (symbols.length !== 1) return undefined;
  const operand = (value as Record<symbol, unknown>)[symbols[0]!];
  switch (symbols[0]) {
    case Op.eq:
      return operand === null
        ? null
        : typeof operand !== 'object' || isScalar(operand)
          ? [operand]
          : undefined;
    case Op.in:
      return Array.isArray(operand) ? operand : undefined;
    case Op.is:
      return operand === null ? null : undefined;
    default:
      return undefined;
  }
}
