/** The KEK provider of these tests: the test suite's in-memory one, counting its calls. */
import { type MemoryKekProvider, memoryKekProvider } from '@cmek/test-suite';

/** One `unwrap` per DEK (no `unwrapMany`), so the tests count DEKs by `calls.unwrap`. */
export function countingProvider(): MemoryKekProvider {
  return memoryKekProvider({ providerId: 'test-memory', features: { unwrapMany: false } });
}
