export { type CmekConfig, defineConfig, type ModuleImporter } from './config';
export { EXIT, type ExitCode } from './exit-codes';
export type { CliIo } from './io';
export { run } from './program';
