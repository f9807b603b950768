/**
 * Where the time of one 32 B envelope operation goes: each step of the core's encrypt and decrypt
 * timed alone (through the core's own internal functions), beside prototypes of cheaper variants.
 * Diagnostic only: the numbers feed the "where time goes" section of README.md. The "sync work"
 * and "prototype" rows rebuild the pre-issue-14 path from the core's building blocks (a
 * derivation per value); the `...With` rows are the steps left on the value-key cache's hit path.
 *
 *   pnpm --filter @cmek/bench bench:envelope-breakdown     # BENCH_ROUNDS=3 BENCH_TIME_MS=300
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hash,
  hkdfSync,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { Bench } from 'tinybench';
import {
  encodeB64url,
  encodeB64urlPadded,
  tryDecodeB64url,
  tryDecodeB64urlPadded,
} from '../../packages/core/src/base64url';
import { canonicalContext } from '../../packages/core/src/context';
import {
  deriveValueKey,
  fernetKey,
  openFernet,
  openFernetWith,
  sealFernet,
  sealFernetWith,
} from '../../packages/core/src/fernet';
import { randomBytesFromPool } from '../../packages/core/src/random-pool';
import { formatToken, parseToken } from '../../packages/core/src/token';
import { plainFernet } from './fernet-baseline';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 300);
const SIZE = Number(process.env.BENCH_SIZE ?? 32);
const context = { field: 'users.email' };
const value = randomBytes(SIZE).toString('base64url').slice(0, SIZE);
const plaintext = Buffer.from(value, 'utf8');

const env = createEnvelope({ kek: createLocalKekProviderFromKey(randomBytes(32)) });
const token = await env.encrypt(value, { context });
const parsed = parseToken(token);
const dek = randomBytes(32);
const canon = canonicalContext(context);
const salt = randomBytes(16);
const iv = randomBytes(16);
const vk = deriveValueKey(dek, salt, canon);
const fk = fernetKey(vk);
const fernetText = sealFernet(vk, plaintext, iv, 1_700_000_000);
const fernetRaw = Buffer.from(fernetText, 'base64url');
const INFO = Buffer.concat([Buffer.from('cmek:v1\0', 'latin1'), canon]);
const baseline = plainFernet();
const baselineToken = baseline.encrypt(plaintext);

// Strict decoding without any regex: Node's decoder is lax (it skips unknown characters, takes
// '+' and '/', ignores unused bits), but a text equal to the re-encoding of its decoded bytes is
// canonical base64url, hence only alphabet characters with correct padding and zero unused bits.
// This check alone rejects everything the regex + re-encode of base64url.ts rejects.
function decodePaddedNoRegex(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64urlPadded(bytes) === text ? bytes : undefined;
}
const PADDED_GROUPED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;
for (const bad of [
  'AQ',
  'AQ=',
  'AR==',
  '+AAA',
  'AA/A',
  'AAA A',
  'AAAA\n',
  'AQ==AQ==',
  'AQI==',
  'A\u00e9AA',
]) {
  if (decodePaddedNoRegex(bad) !== undefined) throw new Error(`no-regex decoder accepts ${bad}`);
}

// The sync work of one decrypt as the core does it today, and a prototype of the same work with
// the kek part looked up in the DEK cache before it is decoded (a hit proves it was valid), the
// canonical context memoized per context object, and the regex-free strict base64 check.
const dekByKekText = new Map([[parsed.kekText, dek]]);
const tokenForDek = formatToken(parsed.kekText, salt, fernetText);
function decryptSyncCurrent(): Buffer {
  const p = parseToken(tokenForDek);
  const key = deriveValueKey(dekByKekText.get(p.kekText)!, p.salt, canonicalContext(context));
  return openFernet(key, p.fernet).plaintext;
}
const canonMemo = new WeakMap<object, Buffer>();
function decryptSyncPrototype(): Buffer {
  const body = tokenForDek.slice(8);
  const a = body.indexOf('|');
  const b = body.indexOf('|', a + 1);
  const d = dekByKekText.get(body.slice(0, a))!; // hit: no record decode
  const s = tryDecodeB64url(body.slice(a + 1, b))!;
  let c = canonMemo.get(context);
  if (c === undefined) {
    c = canonicalContext(context);
    canonMemo.set(context, c);
  }
  const key = deriveValueKey(d, s, c);
  const raw = decodePaddedNoRegex(body.slice(b + 1))!;
  return openRaw(key, raw);
}
function openRaw(key: Buffer, raw: Buffer): Buffer {
  const signed = raw.subarray(0, raw.length - 32);
  const mac = createHmac('sha256', key.subarray(0, 16)).update(signed).digest();
  if (!timingSafeEqual(mac, raw.subarray(raw.length - 32))) throw new Error('bad');
  const d = createDecipheriv('aes-128-cbc', key.subarray(16, 32), signed.subarray(9, 25));
  return Buffer.concat([d.update(signed.subarray(25)), d.final()]);
}
function encryptSyncCurrent(): string {
  const random = randomBytesFromPool(32);
  const key = deriveValueKey(dek, random.subarray(0, 16), canonicalContext(context));
  return formatToken(
    parsed.kekText,
    random.subarray(0, 16),
    sealFernet(key, plaintext, random.subarray(16), 1_700_000_000),
  );
}

// The same work behind an async signature, as the envelope's API has: the floor for `await
// env.decrypt(...)` / `await env.encrypt(...)` if the cache-hit path did no more than this.
async function decryptAsyncPrototype(): Promise<string> {
  return decryptSyncPrototype().toString('utf8');
}
async function encryptAsyncPrototype(): Promise<string> {
  return encryptSyncCurrent();
}

// HMAC-SHA256 written with two one-shot `crypto.hash` calls (Node >= 20.12), to see whether the
// per-call cost of `createHmac` objects is what the HKDF pays for.
const IPAD = Buffer.alloc(64, 0x36);
const OPAD = Buffer.alloc(64, 0x5c);
function hmacOneShot(key: Buffer, ...parts: Buffer[]): Buffer {
  const inner = Buffer.concat([IPAD, ...parts]);
  const outer = Buffer.concat([OPAD, Buffer.alloc(32)]);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  hash('sha256', inner, 'buffer').copy(outer, 64);
  return hash('sha256', outer, 'buffer');
}
const ONE = Buffer.from([1]);
function deriveOneShot(d: Buffer, s: Buffer, c: Buffer): Buffer {
  return hmacOneShot(hmacOneShot(s, d), INFO_PREFIX, c, ONE);
}
const INFO_PREFIX = Buffer.from('cmek:v1\0', 'latin1');
if (!deriveOneShot(dek, salt, canon).equals(vk))
  throw new Error('one-shot HMAC prototype is wrong');

const steps: Record<string, () => unknown> = {
  'decrypt, async prototype (the floor for await env.decrypt)': decryptAsyncPrototype,
  'encrypt, async prototype (the floor for await env.encrypt)': encryptAsyncPrototype,
  'decrypt, sync work of the core today': decryptSyncCurrent,
  'decrypt, sync prototype (cached record, memo canon, no-regex b64)': decryptSyncPrototype,
  'encrypt, sync work of the core today': encryptSyncCurrent,
  // the whole operations
  'baseline fernet encrypt': () => baseline.encrypt(Buffer.from(value, 'utf8')),
  'baseline fernet decrypt': () => baseline.decrypt(baselineToken).toString('utf8'),
  'cmek encrypt (await)': () => env.encrypt(value, { context }),
  'cmek decrypt (await)': () => env.decrypt(token, { context }),
  // decrypt, step by step
  'parseToken (kek + salt parts, record)': () => parseToken(token),
  canonicalContext: () => canonicalContext(context),
  'deriveValueKey: 2 x createHmac (current)': () => deriveValueKey(dek, salt, canon),
  'deriveValueKey: hkdfSync': () => hkdfSync('sha256', dek, salt, INFO, 32),
  'deriveValueKey: 4 x crypto.hash (prototype)': () => deriveOneShot(dek, salt, canon),
  'openFernet (derives the halves per call)': () => openFernet(vk, fernetText),
  'openFernetWith (a cached value key, the hit path)': () => openFernetWith(fk, fernetText),
  'tryDecodeB64urlPadded (decode + re-encode)': () => tryDecodeB64urlPadded(fernetText),
  'padded decode, re-encode compare, no regex (prototype)': () => decodePaddedNoRegex(fernetText),
  'Buffer.from(base64url) alone': () => Buffer.from(fernetText, 'base64url'),
  'the grouped PADDED regex alone': () => PADDED_GROUPED.test(fernetText),
  'tryDecodeB64url (kek part)': () => tryDecodeB64url(parsed.kekText),
  'one createHmac over the Fernet bytes': () =>
    createHmac('sha256', vk.subarray(0, 16)).update(fernetRaw.subarray(0, -32)).digest(),
  // encrypt, step by step
  'randomBytesFromPool(32) (current)': () => randomBytesFromPool(32),
  'randomBytes(32)': () => randomBytes(32),
  'randomFillSync(32 B buffer)': () => randomFillSync(Buffer.allocUnsafe(32)),
  sealFernet: () => sealFernet(vk, plaintext, iv, 1_700_000_000),
  'sealFernetWith (a cached value key, the hit path)': () =>
    sealFernetWith(fk, plaintext, iv, 1_700_000_000),
  'encodeB64url(salt) + formatToken': () => formatToken(parsed.kekText, salt, fernetText),
  'encodeB64urlPadded (Fernet bytes)': () => encodeB64urlPadded(fernetRaw),
  'encodeB64url (Fernet bytes)': () => encodeB64url(fernetRaw),
  'AES-128-CBC alone': () => {
    const c = createCipheriv('aes-128-cbc', vk.subarray(16), iv);
    return Buffer.concat([c.update(plaintext), c.final()]);
  },
  'Promise.resolve round trip': () => Promise.resolve(1),
};

const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  const bench = new Bench({ time: TIME_MS, warmupTime: 50 });
  for (const [name, fn] of Object.entries(steps)) bench.add(name, fn);
  await bench.warmup();
  await bench.run();
  for (const task of bench.tasks) {
    if (task.result?.error) throw task.result.error;
    const list = results.get(task.name) ?? [];
    const samples = [...task.result!.samples].sort((a, b) => a - b);
    list.push(samples[samples.length >> 1]! * 1000);
    results.set(task.name, list);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
await env.close();

console.log(
  `node ${process.version}, ${SIZE} B values, median iteration time, median of ${ROUNDS} rounds\n`,
);
console.log('| step | µs per call |');
console.log('|---|---:|');
for (const [name, list] of results) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`| ${name} | ${sorted[sorted.length >> 1]!.toFixed(2)} |`);
}
