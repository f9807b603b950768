/** The one test for "an object with keys" (not null, not an array) that the modules share. */
import type { Holder } from './slots';

export function isObject(value: unknown): value is Holder {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
