/** A stand-in test runner: collects what a suite registers, so a test can run it and look at the outcome. */
import type { TestApi, TestBody } from '../src/index';

export interface Outcome {
  readonly name: string;
  readonly error: unknown;
}

export async function runCollected(register: (api: TestApi) => void): Promise<Outcome[]> {
  const tests: { name: string; body: TestBody }[] = [];
  const before: TestBody[] = [];
  const after: TestBody[] = [];
  const prefix: string[] = [];
  register({
    describe(name, body) {
      prefix.push(name);
      body();
      prefix.pop();
    },
    it(name, body) {
      tests.push({ name: [...prefix, name].join(' > '), body });
    },
    beforeAll(body) {
      before.push(body);
    },
    afterAll(body) {
      after.push(body);
    },
  });
  for (const hook of before) await hook();
  const outcomes: Outcome[] = [];
  for (const test of tests) {
    try {
      await test.body();
      outcomes.push({ name: test.name, error: undefined });
    } catch (error) {
      outcomes.push({ name: test.name, error });
    }
  }
  for (const hook of after) await hook();
  return outcomes;
}

/** The names of the failed tests, without the describe prefix. */
export function failed(outcomes: readonly Outcome[]): string[] {
  return outcomes.filter((o) => o.error !== undefined).map((o) => o.name.split(' > ').pop()!);
}
