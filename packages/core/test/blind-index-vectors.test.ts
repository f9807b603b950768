/**
 * Replays the checked-in blind-index vectors (docs/wire-format.md, "Blind indexes"), computed once
 * by `test/vectors/generate.py` (Python `cryptography` and `hashlib.scrypt`, independent of this
 * code): the stored index keys load through a local KEK, every index value is reproduced in both
 * modes, the intermediate values match, and the invalid keys and values are refused.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deriveFieldKey, hmacDigest, messageOf, normalizerOf } from '../src/blind-index';
import {
  type BlindIndexer,
  type BlindIndexNormalizerName,
  CmekError,
  type CmekEvent,
  inspectBlindIndex,
  loadBlindIndexes,
} from '../src/index';
import { vectorKek } from './vectors/local-kek';

interface IndexVector {
  name: string;
  indexKey: string;
  keyId: string;
  field: string;
  plaintext: string;
  normalize: BlindIndexNormalizerName[];
  mode: 'hmac' | 'slow';
  cost?: number;
  message: string;
  fieldKey: string;
  digest: string;
  index: string;
}

const file = JSON.parse(
  readFileSync(new URL('./vectors/blind-index.json', import.meta.url), 'utf8'),
) as {
  kek: string;
  indexKeys: { name: string; indexKey: string; keyId: string; stored: string }[];
  vectors: IndexVector[];
  invalidIndexKeys: { name: string; stored: string; error: string }[];
  invalidIndexValues: string[];
};

const kek = () => vectorKek({ kek: Buffer.from(file.kek, 'hex') });
const stored = file.indexKeys.map((k) => k.stored);

async function indexerFor(cost: number | undefined, keys = stored): Promise<BlindIndexer> {
  return loadBlindIndexes({ keys, kek: kek(), ...(cost === undefined ? {} : { slowCost: cost }) });
}

describe('blind-index vectors', () => {
  it('has vectors in both modes, under both keys', () => {
    expect(new Set(file.vectors.map((v) => v.mode))).toEqual(new Set(['hmac', 'slow']));
    expect(new Set(file.vectors.map((v) => v.keyId))).toEqual(
      new Set(file.indexKeys.map((k) => k.keyId)),
    );
  });

  it('loads the stored index keys with one unwrap each and gives their key ids', async () => {
    const events: CmekEvent[] = [];
    const indexer = await loadBlindIndexes({
      keys: stored,
      kek: kek(),
      onEvent: (e) => events.push(e),
    });
    expect(indexer.keyIds).toEqual(file.indexKeys.map((k) => k.keyId));
    expect(indexer.currentKeyId).toBe(file.indexKeys[0]!.keyId);
    expect(events.map((e) => e.type === 'kek-call' && e.operation)).toEqual(['unwrap', 'unwrap']);
    indexer.compute('users.email', 'no KEK call for this');
    expect(events).toHaveLength(2);
  });

  for (const v of file.vectors) {
    it(`${v.name}: ${v.index.slice(0, 12)}…`, async () => {
      const indexer = await indexerFor(v.cost);
      const options = { normalize: v.normalize, mode: v.mode, key: v.keyId };
      expect(indexer.compute(v.field, v.plaintext, options)).toBe(v.index);
      expect(await indexer.computeAsync(v.field, v.plaintext, options)).toBe(v.index);
      expect(indexer.compute(v.field, Buffer.from(v.plaintext, 'utf8'), options)).toBe(v.index);
      // the intermediate values
      const tag = v.mode === 'hmac' ? 'h' : `s${v.cost}`;
      const message = messageOf(v.plaintext, normalizerOf(v.normalize, 'test'), v.field);
      expect(message.toString('hex')).toBe(v.message);
      const fieldKey = deriveFieldKey(Buffer.from(v.indexKey, 'hex'), tag, v.field);
      expect(fieldKey.toString('hex')).toBe(v.fieldKey);
      if (v.mode === 'hmac') expect(hmacDigest(fieldKey, message).toString('hex')).toBe(v.digest);
      expect(inspectBlindIndex(v.index)).toEqual({
        version: 'bi1',
        mode: v.mode,
        keyId: v.keyId,
        ...(v.mode === 'slow' ? { cost: v.cost } : {}),
      });
      indexer.close();
    });
  }

  it('candidates gives the index under each loaded key, current first', async () => {
    const indexer = await indexerFor(undefined);
    const [current, next] = ['hmac-ascii', 'hmac-next-key'].map(
      (name) => file.vectors.find((v) => v.name === name)!,
    );
    expect(indexer.candidates(current!.field, current!.plaintext)).toEqual([
      current!.index,
      next!.index,
    ]);
    const reversed = await indexerFor(undefined, [...stored].reverse());
    expect(reversed.compute(current!.field, current!.plaintext)).toBe(next!.index);
  });

  for (const bad of file.invalidIndexKeys) {
    it(`refuses the stored index key ${bad.name} with ${bad.error}`, async () => {
      const error = await loadBlindIndexes({ keys: [bad.stored], kek: kek() }).catch((e) => e);
      expect(CmekError.isInstance(error)).toBe(true);
      expect((error as Error).name).toBe(bad.error);
      expect((error as Error).message).not.toContain(bad.stored.slice(30));
    });
  }

  it('refuses every invalid index value with CmekFormatError', () => {
    for (const value of file.invalidIndexValues) {
      expect(() => inspectBlindIndex(value), JSON.stringify(value)).toThrow(
        expect.objectContaining({ code: 'CMEK_FORMAT' }),
      );
    }
  });
});
