/** The parts of a KMS key or alias ARN the provider uses: the key's Region and account. */

export interface KmsArnParts {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

// arn:<partition>:kms:<region>:<12-digit account>:key/<id> or :alias/<name>
const KMS_ARN = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):(?:key|alias)\/.+$/;

/** The Region and account of a key ARN or alias ARN; `undefined` for a key id or an alias name. */
export function parseKmsArn(keyId: string): KmsArnParts | undefined {
  const match = KMS_ARN.exec(keyId);
  if (match === null) return undefined;
  const [, partition, region, accountId] = match as unknown as [string, string, string, string];
  return { partition, region, accountId };
}
