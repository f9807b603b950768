/**
 * The shapes the adapter reads Sequelize's values in: a record of values (a write's, a raw row),
 * a model instance's data values, and the text of a plaintext.
 */
import type { Encryptable } from '@cmek/core';

export type Values = Record<string, unknown>;

/** `value` as a record of values; anything but an object is an empty one. */
export function valuesOf(value: unknown): Values {
  return typeof value === 'object' && value !== null ? (value as Values) : {};
}

/** The data values of a model instance (and its previous values, so `changed()` stays clean). */
export interface InstanceLike {
  dataValues: Values;
  _previousDataValues?: Values;
}

export function isInstance(value: unknown): value is InstanceLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { dataValues?: unknown }).dataValues === 'object' &&
    (value as { dataValues?: unknown }).dataValues !== null
  );
}

/** The text of a plaintext: strings as they are, UTF-8 bytes decoded (what a read returns). */
export function textOf(value: Encryptable): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
}
