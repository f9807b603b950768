#!/usr/bin/env node
import { main } from './main';

main().catch((error: unknown) => {
  process.stderr.write(`cmek: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
