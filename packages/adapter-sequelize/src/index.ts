export {
  type EncryptedFieldOptions,
  type EncryptedModel,
  type EncryptFieldsOptions,
  encryptFields,
} from './encrypt-fields';
export { type SequelizeRowStoreOptions, sequelizeRowStore } from './row-store';
