/**
 * The libraries a user would pick instead of cmek, through their real npm packages, each set up
 * the way its documentation (or the ORM plugin built on it) uses it, string in and string out:
 *
 * - AWS Encryption SDK for JavaScript (`@aws-crypto/client-node`), a raw AES keyring (an
 *   in-memory key, like cmek's local provider), the encryption context `{ field }`:
 *   - `esdk-cached`: the unsigned committing suite `ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY`
 *     behind a `NodeCachingMaterialsManager` over `getLocalCryptographicMaterialsCache` (the data
 *     key is reused, as cmek reuses its DEK);
 *   - `esdk-default`: the default suite (committing, ECDSA P-384 signed), no caching (a data key
 *     per message);
 *   the message is base64 text, as a string column would hold it.
 * - `@47ng/cloak` (what prisma-field-encryption uses): `encryptStringSync` with a parsed key,
 *   `decryptStringSync` after `findKeyForMessage` in a keychain, as prisma-field-encryption does.
 * - `mongoose-field-encryption`: its `encrypt` / `decrypt` helpers with the key its plugin derives
 *   from the secret (the first 32 hex characters of its SHA-256) and its default random IV.
 *   AES-256-CBC without a MAC: no integrity, no context binding (a cheaper, weaker design).
 *
 * `createPeers` checks that each peer's output decrypts back before anything is timed.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  decryptStringSync,
  encryptStringSync,
  findKeyForMessage,
  generateKey,
  makeKeychainSync,
  parseKeySync,
} from '@47ng/cloak';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  getLocalCryptographicMaterialsCache,
  NodeCachingMaterialsManager,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import mongooseFieldEncryption from 'mongoose-field-encryption';

export interface Peer {
  readonly name: string;
  /** What the README's table calls it. */
  readonly label: string;
  encrypt(value: string): Promise<string> | string;
  decrypt(token: string): Promise<string> | string;
  /** Calls to the key-wrapping key so far (the ESDK keyrings), when the peer has one. */
  readonly kekCalls?: () => number;
}

const context = { field: 'users.email' };

/** A raw AES keyring whose wrap and unwrap calls are counted (what a KMS call would be). */
function rawAesKeyring(): { keyring: RawAesKeyringNode; calls: () => number } {
  const keyring = new RawAesKeyringNode({
    keyNamespace: 'cmek-bench',
    keyName: 'kek',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  let calls = 0;
  const onEncrypt = keyring._onEncrypt;
  const onDecrypt = keyring._onDecrypt;
  keyring._onEncrypt = function (material) {
    calls++;
    return onEncrypt.call(this, material);
  };
  keyring._onDecrypt = function (material, keys) {
    calls++;
    return onDecrypt.call(this, material, keys);
  };
  return { keyring, calls: () => calls };
}

function esdkPeers(): Peer[] {
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const cachedKeyring = rawAesKeyring();
  const cached = new NodeCachingMaterialsManager({
    backingMaterials: cachedKeyring.keyring,
    cache: getLocalCryptographicMaterialsCache(1000),
    maxAge: 10 * 60 * 1000,
    maxMessagesEncrypted: 10_000,
  });
  const uncached = rawAesKeyring();
  const plainKeyring = uncached.keyring;
  const open = async (
    keys: NodeCachingMaterialsManager | RawAesKeyringNode,
    token: string,
  ): Promise<string> => {
    const { plaintext, messageHeader } = await decrypt(keys, Buffer.from(token, 'base64'));
    if (messageHeader.encryptionContext.field !== context.field) {
      throw new Error('ESDK: the encryption context does not match');
    }
    return plaintext.toString('utf8');
  };
  return [
    {
      name: 'esdk-cached',
      label: 'AWS ESDK, committing unsigned suite, caching CMM',
      async encrypt(value) {
        const { result } = await encrypt(cached, value, {
          suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
          encryptionContext: context,
        });
        return result.toString('base64');
      },
      decrypt: (token) => open(cached, token),
      kekCalls: cachedKeyring.calls,
    },
    {
      name: 'esdk-default',
      label: 'AWS ESDK, default suite (committing, signed), no caching',
      async encrypt(value) {
        const { result } = await encrypt(plainKeyring, value, { encryptionContext: context });
        return result.toString('base64');
      },
      decrypt: (token) => open(plainKeyring, token),
      kekCalls: uncached.calls,
    },
  ];
}

function cloakPeer(): Peer {
  const serialized = generateKey();
  const key = parseKeySync(serialized);
  const keychain = makeKeychainSync([serialized]);
  return {
    name: 'cloak',
    label: '@47ng/cloak (prisma-field-encryption)',
    encrypt: (value) => encryptStringSync(value, key),
    decrypt: (token) => decryptStringSync(token, findKeyForMessage(token, keychain)),
  };
}

function mongooseFieldEncryptionPeer(): Peer {
  // What the plugin does with its `secret` option before it calls `encrypt` / `decrypt`.
  const secret = createHash('sha256').update(randomBytes(32)).digest('hex').substring(0, 32);
  const salt = () => randomBytes(16);
  return {
    name: 'mongoose-field-encryption',
    label: 'mongoose-field-encryption',
    encrypt: (value) => mongooseFieldEncryption.encrypt(value, secret, salt),
    decrypt: (token) => mongooseFieldEncryption.decrypt(token, secret),
  };
}

/** The peers, each checked to round-trip `probe` (a wrong setup fails here, not in a table). */
export async function createPeers(probe: string): Promise<Peer[]> {
  const peers = [...esdkPeers(), cloakPeer(), mongooseFieldEncryptionPeer()];
  for (const peer of peers) {
    const token = await peer.encrypt(probe);
    if (token.includes(probe)) throw new Error(`${peer.name}: the output holds the plaintext`);
    if ((await peer.decrypt(token)) !== probe) throw new Error(`${peer.name}: no round trip`);
  }
  return peers;
}
