export { AWS_KMS_PROVIDER_ID } from './map-error';
export type { AwsKmsKekProviderOptions } from './options';
export { type AwsKmsKekProvider, createAwsKmsKekProvider } from './provider';
