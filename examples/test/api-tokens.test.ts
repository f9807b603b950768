/** examples/api-tokens: an API token found by its encrypted sha256 through a blind index. */
import { beforeAll, describe, expect, it } from 'vitest';
import { type ExampleRun, runExample, stepOf } from './run-example';

const storedValue = (line: string): string => line.split('stored: ')[1] ?? '';

describe('examples/api-tokens', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('api-tokens');
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores a token and an index of each sha256, and neither the token nor its hash', () => {
    const keyId = /index key \(key id ([0-9a-f]{16})\)/.exec(stepOf(run.stdout, 1).join('\n'));
    expect(keyId).not.toBeNull();
    const issued = stepOf(run.stdout, 2).flatMap((line) => {
      const m = /token (cmek_tok_\S+) \(shown once\), sha256 ([0-9a-f]{64})$/.exec(line);
      return m ? [m[1]!, m[2]!] : [];
    });
    expect(issued).toHaveLength(4);
    const step = stepOf(run.stdout, 3);
    const tokens = step.filter((l) => l.includes('token_hash  ')).map(storedValue);
    const indexes = step.filter((l) => l.includes('token_hash_bidx  ')).map(storedValue);
    expect(tokens).toHaveLength(2);
    expect(indexes).toHaveLength(2);
    for (const value of tokens) expect(value).toMatch(/^cmek:v1:\S{100,}$/);
    for (const value of indexes) {
      expect(value).toMatch(new RegExp(`^cmek:bi1:h:${keyId![1]}:[A-Za-z0-9_-]{43}$`));
    }
    expect(new Set(indexes).size).toBe(2);
    expect(step.join('\n')).toContain('no token and no sha256 in either column');
    for (const value of [...tokens, ...indexes]) {
      for (const secret of issued) expect(value).not.toContain(secret);
    }
  });

  it('finds the row of the presented token, nothing for a wrong one, with no KEK call', () => {
    const step = stepOf(run.stdout, 4).join('\n');
    expect(step).toContain("where('token_hash', sha256(presented)) found: billing-export");
    expect(step).toContain('a wrong token found: nothing');
    expect(step).toContain('KEK calls for both lookups: 0');
  });

  it('refuses the same token twice by the unique index, and other filters', () => {
    expect(stepOf(run.stdout, 5).join('\n')).toContain(
      'refused: SQLITE_CONSTRAINT_UNIQUE; the error names no hash',
    );
    expect(stepOf(run.stdout, 6).join('\n')).toContain('CMEK_QUERY: refused');
  });
});
