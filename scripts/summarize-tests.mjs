// Reads the JSON results of every vitest run and check in a folder and prints one closing line:
// "N passed, N failed" (", N skipped" when some were). Exits 1 if anything failed or no test ran.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const data = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  if ('check' in data) {
    if (data.ok) passed++;
    else {
      failed++;
      console.log(`failed check: ${data.check}`);
    }
    continue;
  }
  passed += data.numPassedTests;
  failed += data.numFailedTests;
  skipped += data.numPendingTests + data.numTodoTests;
  // A test file that fails to load (a missing service under CI=true, a syntax error) has no tests.
  for (const suite of data.testResults ?? []) {
    if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) {
      failed++;
      console.log(`failed to run: ${suite.name} (${file})`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
