export { cmekExtension } from './extension';
export type { CmekExtensionOptions, CmekModelOptions } from './options';
export { type PrismaRowStoreOptions, prismaRowStore } from './row-store';
