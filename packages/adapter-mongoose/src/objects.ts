/** The object helpers the modules share. */
import type { Holder } from './slots';

export function isObject(value: unknown): value is Holder {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A method as the wrappers see it. */
export type Method = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Replaces `target[name]` by `wrap(original)` as an own, non-enumerable property, once: a method
 * that already carries `marker` (this wrapper's, from an earlier call) is left as it is, and so is
 * a target without such a method.
 */
export function wrapMethodOnce(
  target: object,
  name: string,
  marker: symbol,
  wrap: (original: Method) => Method,
): void {
  const original = (target as Record<string, unknown>)[name];
  if (typeof original !== 'function' || marker in original) return;
  const wrapped = wrap(original as Method);
  Object.defineProperty(wrapped, marker, { value: true });
  Object.defineProperty(target, name, {
    value: wrapped,
    configurable: true,
    enumerable: false,
    writable: true,
  });
}
