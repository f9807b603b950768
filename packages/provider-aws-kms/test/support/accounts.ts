/**
 * Integration support for keys in other AWS accounts, on the moto server.
 *
 * moto keeps one KMS store per account and picks the account from the request's access key:
 * credentials returned by STS AssumeRole of a role in account B make every later request land in
 * account B (moto docs, "Multi-Account support"; `moto/sts/models.py`: "The ARN can point to
 * another account, providing an opportunity to switch accounts"). moto does not check trust
 * policies, ExternalIds or cross-account key policies: a key of account B is simply not found from
 * account A.
 *
 * moto cannot end a key's deletion waiting period either. A key created by a CloudFormation stack
 * is removed from moto's store when the stack is deleted, which is what KMS does at the end of the
 * waiting period, so the shredding tests create their keys that way.
 */
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import { KMSClient } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { CREDENTIALS, REGION } from './moto';

type TenantCredentials = ReturnType<typeof fromTemporaryCredentials>;

/** The account every request without an assumed role lands in (moto's default). */
export const APP_ACCOUNT = '123456789012';

/**
 * The credentials a SaaS application gets for one tenant: a role in the tenant's account,
 * assumed with the application's own credentials and the tenant's ExternalId. The SDK caches
 * them and assumes the role again before they expire.
 */
export function tenantCredentials(
  endpoint: string,
  accountId: string,
  externalId: string,
): TenantCredentials {
  return fromTemporaryCredentials({
    masterCredentials: CREDENTIALS,
    params: {
      RoleArn: `arn:aws:iam::${accountId}:role/cmek-tenant-access`,
      RoleSessionName: 'cmek-app',
      ExternalId: externalId,
    },
    clientConfig: { endpoint, region: REGION },
  });
}

/** The customer's own administrator, in the customer's account (disables, deletes keys). */
export function customerAdmin(endpoint: string, accountId: string): KMSClient {
  return new KMSClient({
    region: REGION,
    endpoint,
    credentials: customerAdminCredentials(endpoint, accountId),
  });
}

/** A symmetric key created by a CloudFormation stack in `accountId`, so that it can be deleted. */
export class StackKey {
  private constructor(
    private readonly cloudFormation: CloudFormationClient,
    private readonly stackName: string,
    readonly arn: string,
  ) {}

  static async create(endpoint: string, accountId: string, label: string): Promise<StackKey> {
    const cloudFormation = new CloudFormationClient({
      region: REGION,
      endpoint,
      credentials: customerAdminCredentials(endpoint, accountId),
    });
    const stackName = `cmek-provider-aws-kms-${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const template = {
      Resources: {
        Kek: {
          Type: 'AWS::KMS::Key',
          Properties: {
            Description: `cmek test: ${label}`,
            KeyPolicy: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Principal: { AWS: `arn:aws:iam::${accountId}:root` },
                  Action: 'kms:*',
                  Resource: '*',
                },
              ],
            },
          },
        },
      },
    };
    await cloudFormation.send(
      new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(template) }),
    );
    const out = await cloudFormation.send(
      new DescribeStackResourcesCommand({ StackName: stackName }),
    );
    const keyId = out.StackResources?.find(
      (r) => r.LogicalResourceId === 'Kek',
    )?.PhysicalResourceId;
    if (keyId === undefined) throw new Error('the stack did not create its key');
    return new StackKey(
      cloudFormation,
      stackName,
      `arn:aws:kms:${REGION}:${accountId}:key/${keyId}`,
    );
  }

  /** Deletes the stack, and with it the key: what KMS does when the waiting period ends. */
  async deleteKey(): Promise<void> {
    await this.cloudFormation.send(new DeleteStackCommand({ StackName: this.stackName }));
  }

  destroy(): void {
    this.cloudFormation.destroy();
  }
}

function customerAdminCredentials(endpoint: string, accountId: string): TenantCredentials {
  return fromTemporaryCredentials({
    masterCredentials: CREDENTIALS,
    params: {
      RoleArn: `arn:aws:iam::${accountId}:role/key-administrator`,
      RoleSessionName: 'customer-admin',
    },
    clientConfig: { endpoint, region: REGION },
  });
}
