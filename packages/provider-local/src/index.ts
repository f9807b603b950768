export { type GeneratedKekFile, type GenerateKekFileOptions, generateKekFile } from './generate';
export {
  createLocalKekProvider,
  createLocalKekProviderFromKey,
  LOCAL_PROVIDER_ID,
  type LocalKekProvider,
  type LocalKekProviderOptions,
} from './provider';
