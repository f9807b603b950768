export type { VaultClient, VaultRequestOptions } from './client';
export { VaultRequestError } from './map-error';
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MOUNT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type VaultKekProviderOptions,
  type VaultTokenProvider,
} from './options';
export { createVaultKekProvider, type VaultKekProvider } from './provider';
export { DEFAULT_RETRY, type VaultRetryOptions } from './retry';
