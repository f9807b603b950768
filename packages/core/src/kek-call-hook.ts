/**
 * The around-hook of KEK calls: core calls it around every provider call (and the `kek-call`
 * event it reports), so a tracer can make its span the active parent of the provider SDK's spans.
 */
import { CmekConfigError } from './errors';
import type { KekOperation } from './events';

/** What the hook is told about the call it wraps: no key material, no wrapped bytes. */
export interface KekCallInfo {
  readonly operation: KekOperation;
  readonly providerId: string;
  readonly keyRef: string;
  /** DEKs in the call: 1, or the items of an `unwrapMany`. */
  readonly count: number;
  /** The tenant whose inner envelope makes the call (a tenant envelope only). */
  readonly tenant?: string;
}

/**
 * Must call `run` once and resolve to what it resolves to (or reject with what it rejects with).
 * An error the hook throws itself is the call's error, unchanged; a hook that resolves to anything
 * else than `run()`'s result fails the call with `CmekConfigError`.
 */
export type KekCallHook = <T>(call: KekCallInfo, run: () => Promise<T>) => Promise<T>;

export function kekCallHookOf(value: unknown): KekCallHook | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new CmekConfigError('kekCallHook must be a function');
  return value as KekCallHook;
}
