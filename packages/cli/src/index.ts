export {
  type CmekConfig,
  defineConfig,
  type EnvelopeContext,
  type IndexerContext,
  type ModuleImporter,
} from './config';
export { EXIT, type ExitCode } from './exit-codes';
export type { CliIo } from './io';
export type { KekCallSummary } from './kek-summary';
export { run } from './program';
