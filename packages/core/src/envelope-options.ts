/** The options of `createEnvelope`, checked: cache limits, the plaintext policy, the hooks. */
import type { DecryptCacheOptions, DekCacheOptions, PlaintextPolicy } from './envelope-types';
import { CmekConfigError } from './errors';

export const DEFAULT_DEK_CACHE: Required<DekCacheOptions> = {
  maxUses: 10_000,
  maxAgeMs: 10 * 60_000,
  maxContexts: 256,
  saltPerValue: false,
  staleGraceMs: 0,
};
const { saltPerValue: _default, ...DEFAULT_DEK_LIMITS } = DEFAULT_DEK_CACHE;
export const DEFAULT_DECRYPT_CACHE: Required<DecryptCacheOptions> = {
  maxEntries: 1_000,
  maxAgeMs: 10 * 60_000,
  staleGraceMs: 0,
};
const POLICIES: readonly PlaintextPolicy[] = ['allow', 'warn', 'reject'];

export function positive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CmekConfigError(`${name} must be a positive number`);
  }
  return value;
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CmekConfigError(`${name} must be a number, 0 or more`);
  }
  return value;
}

export function limitsOf<T extends object>(
  value: Partial<T> | false | undefined,
  defaults: Required<T>,
  name: string,
): Required<T> | false {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new CmekConfigError(`${name} must be an options object or false`);
  }
  const merged = { ...defaults, ...value } as Required<T>;
  for (const [key, v] of Object.entries(merged)) {
    // The stale grace is off at 0; every other limit is a positive number.
    if (key === 'staleGraceMs') nonNegative(v, `${name}.${key}`);
    else positive(v, `${name}.${key}`);
  }
  return merged;
}

export function dekCacheOf(value: DekCacheOptions | false | undefined) {
  if (value === false || value === undefined || typeof value !== 'object' || value === null) {
    // `limitsOf` accepts `false` and `undefined` and refuses anything else that is not an object.
    return { limits: limitsOf(value, DEFAULT_DEK_LIMITS, 'dekCache'), saltPerValue: false };
  }
  const saltPerValue = value.saltPerValue;
  if (saltPerValue !== undefined && typeof saltPerValue !== 'boolean') {
    throw new CmekConfigError('dekCache.saltPerValue must be true or false');
  }
  const { saltPerValue: _, ...limits } = value;
  return {
    limits: limitsOf(limits, DEFAULT_DEK_LIMITS, 'dekCache'),
    saltPerValue: saltPerValue ?? DEFAULT_DEK_CACHE.saltPerValue,
  };
}

export function policyOf(value: unknown, name: string): PlaintextPolicy {
  if (!POLICIES.includes(value as PlaintextPolicy)) {
    throw new CmekConfigError(`${name} must be one of ${POLICIES.join(', ')}`);
  }
  return value as PlaintextPolicy;
}
