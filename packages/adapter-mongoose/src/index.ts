export type { CmekPluginOptions } from './options';
export { cmekPlugin } from './plugin';
export { mongooseRowStore } from './row-store';
