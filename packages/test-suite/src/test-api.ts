/**
 * The slice of a test runner's API the suites use. Pass vitest's (or jest's, or mocha's) own
 * functions: `{ describe, it, beforeAll, afterAll }`. The suites never import a runner themselves.
 */
export type TestBody = () => Promise<void> | void;

export interface TestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: TestBody, timeoutMs?: number): void;
  beforeAll?(body: TestBody, timeoutMs?: number): void;
  afterAll?(body: TestBody, timeoutMs?: number): void;
}
