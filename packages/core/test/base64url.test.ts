/**
 * The strict base64url decoders check canonical form without re-encoding (see base64url.ts): they
 * must accept exactly the texts equal to the canonical encoding of their decoded bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeB64url,
  encodeB64urlPadded,
  tryDecodeB64url,
  tryDecodeB64urlPadded,
} from '../src/base64url';

// Node reads a character outside Latin-1 by its low byte: '\u2B57' as 'W', '\u0141' as 'A'.
const CHARS = [
  'A',
  'B',
  'Q',
  'g',
  'w',
  '8',
  '-',
  '_',
  '+',
  '/',
  '=',
  ' ',
  '\n',
  'é',
  '😀',
  '|',
  '\u2B57',
  '\u0141',
];

describe('strict base64url', () => {
  it('accepts a text exactly when it is the canonical encoding of its bytes', () => {
    let seed = 0x2545f491;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    let canonical = 0;
    for (let i = 0; i < 40_000; i++) {
      let text = '';
      for (let j = next(10); j > 0; j--) text += CHARS[next(CHARS.length)];
      const bytes = Buffer.from(text, 'base64url');
      const unpadded = encodeB64url(bytes) === text;
      const padded = encodeB64urlPadded(bytes) === text;
      expect(tryDecodeB64url(text) !== undefined, JSON.stringify(text)).toBe(unpadded);
      expect(tryDecodeB64urlPadded(text) !== undefined, JSON.stringify(text)).toBe(padded);
      if (unpadded || padded) canonical++;
    }
    expect(canonical).toBeGreaterThan(100);
  });

  it('decodes long texts and refuses one bad character anywhere in them', () => {
    const bytes = Buffer.alloc(65_536 + 7, 0xa5);
    const text = encodeB64urlPadded(bytes);
    expect(tryDecodeB64urlPadded(text)?.equals(bytes)).toBe(true);
    for (const at of [0, 40_000, text.length - 3]) {
      for (const bad of ['+', '/', ' ', '=', 'é', '\u2B57', '\u0141']) {
        expect(tryDecodeB64urlPadded(text.slice(0, at) + bad + text.slice(at + 1))).toBeUndefined();
      }
    }
  });
});
