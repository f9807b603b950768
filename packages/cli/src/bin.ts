#!/usr/bin/env node
import { describeError, errorLines } from './error-report';
import { main } from './main';

main().catch((error: unknown) => {
  for (const text of errorLines(describeError(error))) process.stderr.write(`${text}\n`);
  process.exit(1);
});
