export type { CheckColumnsOptions, ColumnWidth } from './column-check';
export type { CmekTableOptions, WithCmekOptions } from './options';
export { type KnexRowStoreOptions, knexRowStore } from './row-store';
export { type CmekKnex, type CmekKnexHelpers, withCmek } from './wrap';
