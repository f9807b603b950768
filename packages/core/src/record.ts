/** The wrapped-DEK record of SPEC §2: version, provider id, key reference, wrapped DEK. */
import { CmekFormatError } from './errors';

const RECORD_VERSION = 0x01;
export const PROVIDER_ID = /^[a-z0-9-]{1,32}$/;
export const MAX_KEY_REF_BYTES = 1024;
export const MAX_WRAPPED_BYTES = 8192;

export interface DekRecord {
  readonly providerId: string;
  readonly keyRef: string;
  readonly wrapped: Buffer;
}

export function encodeRecord(providerId: string, keyRef: string, wrapped: Uint8Array): Buffer {
  const id = Buffer.from(providerId, 'ascii');
  const ref = Buffer.from(keyRef, 'utf8');
  const head = Buffer.allocUnsafe(4 + id.length);
  head[0] = RECORD_VERSION;
  head[1] = id.length;
  id.copy(head, 2);
  head.writeUInt16BE(ref.length, 2 + id.length);
  return Buffer.concat([head, ref, wrapped]);
}

export function decodeRecord(bytes: Buffer): DekRecord {
  if (bytes.length < 2) throw new CmekFormatError('the wrapped-DEK record is truncated');
  if (bytes[0] !== RECORD_VERSION) {
    throw new CmekFormatError(`unknown wrapped-DEK record version ${bytes[0]}`);
  }
  const p = bytes[1]!;
  if (p < 1 || p > 32 || bytes.length < 4 + p) {
    throw new CmekFormatError('the provider id length of the wrapped-DEK record is out of range');
  }
  const providerId = bytes.toString('latin1', 2, 2 + p);
  if (!PROVIDER_ID.test(providerId)) {
    throw new CmekFormatError('the provider id of the wrapped-DEK record is not [a-z0-9-]');
  }
  const k = bytes.readUInt16BE(2 + p);
  const start = 4 + p + k;
  if (k > MAX_KEY_REF_BYTES || bytes.length < start) {
    throw new CmekFormatError('the key reference length of the wrapped-DEK record is out of range');
  }
  const refBytes = bytes.subarray(4 + p, start);
  const keyRef = refBytes.toString('utf8');
  if (!Buffer.from(keyRef, 'utf8').equals(refBytes)) {
    throw new CmekFormatError('the key reference of the wrapped-DEK record is not valid UTF-8');
  }
  const wrappedLength = bytes.length - start;
  if (wrappedLength < 1 || wrappedLength > MAX_WRAPPED_BYTES) {
    throw new CmekFormatError('the wrapped DEK is empty or longer than 8192 bytes');
  }
  return { providerId, keyRef, wrapped: bytes.subarray(start) };
}
