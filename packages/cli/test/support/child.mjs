// Runs the `cmek` CLI from its sources in a child process (what the SIGKILL test kills).
import { createJiti } from 'jiti';
import { alias, repoRoot } from './alias.mjs';

const jiti = createJiti(import.meta.url, { alias, interopDefault: true, fsCache: false });
const { main } = await jiti.import(`${repoRoot}/packages/cli/src/main.ts`);
await main({ importModule: (path) => jiti.import(path, { default: true }) });
