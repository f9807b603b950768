export type { CheckColumnsOptions, ColumnWidth } from './column-check';
export type { CmekTableOptions, WithCmekOptions } from './options';
export { type DrizzleRowStoreOptions, drizzleRowStore } from './row-store';
export { type CmekDatabase, type CmekDrizzleHelpers, withCmek } from './wrap';
