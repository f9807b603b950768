/** The `local` key reference of SPEC §5: it names the KEK without revealing it. */
import { createHash } from 'node:crypto';

const DOMAIN = Buffer.from('cmek:v1:local-kek', 'ascii');

/** 16 lowercase hex characters: the first 8 bytes of `SHA-256("cmek:v1:local-kek" || KEK)`. */
export function localKeyRef(kek: Uint8Array): string {
  return createHash('sha256').update(DOMAIN).update(kek).digest().subarray(0, 8).toString('hex');
}
