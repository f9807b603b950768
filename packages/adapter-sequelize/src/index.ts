export { type EncryptedModel, encryptFields } from './encrypt-fields';
export type { EncryptedFieldOptions, EncryptFieldsOptions } from './options';
export { type SequelizeRowStoreOptions, sequelizeRowStore } from './row-store';
