/**
 * Where the time of one envelope call goes: the whole calls (cmek and plain Node Fernet), each step
 * of the core's paths timed alone (through the core's own internal functions), and a few
 * alternatives for comparison. Diagnostic only: the numbers feed the "where the time goes" section
 * of README.md.
 *
 * The core as it is now (SPEC §3 revision 2): a cached DEK keeps one salt and value key per
 * context, so a cached encrypt is an IV from the pool plus `sealFernetWith`; the read cache keeps
 * the value keys beside the DEKs, so a decrypt whose DEK and value key are cached is a lookup plus
 * `openFernetWith`. The revision-1 rows time what is left of the old path: a writer with
 * `dekCache: { saltPerValue: true }` (a salt and an HKDF per value), and a decrypt whose value key
 * is not cached (a reader with `decryptCache: { maxEntries: 16 }` cycling through 64 tokens that
 * each have their own salt, so every call decodes the salt and derives). The "in a loop" and
 * "Many" rows time a whole batch (1,000 values; 16 at sizes over 4 KiB) and print it per value:
 * unlike a per-call median, they include the garbage collection the calls cause.
 *
 *   BENCH_SIZE=32    pnpm --filter @cmek/bench bench:envelope-breakdown   # BENCH_ROUNDS=3 BENCH_TIME_MS=300
 *   BENCH_SIZE=65536 pnpm --filter @cmek/bench bench:envelope-breakdown
 */
import { createCipheriv, createHmac, hash, hkdfSync, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { Bench } from 'tinybench';
import { encodeB64urlPadded, tryDecodeB64urlPadded } from '../../packages/core/src/base64url';
import { canonicalContext, canonicalContextOf } from '../../packages/core/src/context';
import {
  deriveValueKey,
  fernetKey,
  openFernetWith,
  sealFernet,
  sealFernetWith,
} from '../../packages/core/src/fernet';
import { randomBytesFromPool } from '../../packages/core/src/random-pool';
import { decodeSalt, parseToken } from '../../packages/core/src/token';
import { plainFernet } from './fernet-baseline';

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
const loadBefore = load();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 300);
const SIZE = Number(process.env.BENCH_SIZE ?? 32);
/** Revision-1 tokens the miss reader cycles through: more than its value-key cache holds. */
const MISS_TOKENS = 64;
const MISS_CACHE = 16;
const context = { field: 'users.email' };
const value = randomBytes(SIZE).toString('base64url').slice(0, SIZE);
const plaintext = Buffer.from(value, 'utf8');

const kekBytes = randomBytes(32);
// Revision 2, the default: cached DEK, one salt and value key per context.
const env = createEnvelope({ kek: createLocalKekProviderFromKey(kekBytes) });
const token = await env.encrypt(value, { context });
// Revision 1: a salt (and an HKDF) per value on write.
const perValue = createEnvelope({
  kek: createLocalKekProviderFromKey(kekBytes),
  dekCache: { saltPerValue: true },
});
const perValueTokens: string[] = [];
for (let i = 0; i < MISS_TOKENS; i++)
  perValueTokens.push(await perValue.encrypt(value, { context }));
if (new Set(perValueTokens.map((t) => parseToken(t).saltText)).size !== MISS_TOKENS) {
  throw new Error('saltPerValue: true did not draw a salt per value');
}
// A reader whose value-key cache is smaller than the set of salts it reads: every call derives.
const missReader = createEnvelope({
  kek: createLocalKekProviderFromKey(kekBytes),
  decryptCache: { maxEntries: MISS_CACHE },
});
for (const t of perValueTokens) {
  if ((await missReader.decrypt(t, { context })) !== value) throw new Error('miss reader failed');
}
let missIndex = 0;
// A batch, as the ORM adapters and the backfill call the core: BATCH values of one field; and the
// same number of single calls in a loop. A per-call median leaves out the garbage collection and
// preemption that land on a minority of calls; a BATCH-long call cannot, so these rows give the
// throughput cost per value (divided by BATCH).
const BATCH = SIZE > 4096 ? 16 : 1000;
const batchValues = Array.from({ length: BATCH }, () => value);
const batchTokens = await env.encryptMany(batchValues, { context });

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
if ((await env.decrypt(token, { context })) !== value) throw new Error('cmek round trip failed');

// Finding 1 of the previous README proposed a strict decode by re-encoding the decoded bytes and
// comparing; the core instead checks the length, '+', '/' and the unused bits (no re-encode).
function decodePaddedReencode(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64urlPadded(bytes) === text ? bytes : undefined;
}
// The grouped regex the core's decoder ran before (removed in issue 14).
const PADDED_GROUPED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;

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
const INFO_PREFIX = Buffer.from('cmek:v1\0', 'latin1');
function deriveOneShot(d: Buffer, s: Buffer, c: Buffer): Buffer {
  return hmacOneShot(hmacOneShot(s, d), INFO_PREFIX, c, ONE);
}
if (!deriveOneShot(dek, salt, canon).equals(vk))
  throw new Error('one-shot HMAC prototype is wrong');
if (
  !hkdfSync('sha256', dek, salt, INFO, 32) ||
  !decodePaddedReencode(fernetText)?.equals(fernetRaw)
)
  throw new Error('a comparison prototype is wrong');

const steps: Record<string, () => unknown> = {
  // the whole operations
  'plain Fernet encrypt': () => baseline.encrypt(Buffer.from(value, 'utf8')),
  'plain Fernet decrypt': () => baseline.decrypt(baselineToken).toString('utf8'),
  'cmek encrypt (await), cached DEK and value key (revision 2, default)': () =>
    env.encrypt(value, { context }),
  'cmek decrypt (await), cached DEK and value key': () => env.decrypt(token, { context }),
  'cmek encrypt (await), saltPerValue: true (revision 1: salt + HKDF per value)': () =>
    perValue.encrypt(value, { context }),
  'cmek decrypt (await), value key not cached (decode salt + HKDF)': () =>
    missReader.decrypt(perValueTokens[missIndex++ % MISS_TOKENS]!, { context }),
  [`plain Fernet encrypt, ${BATCH} in a loop, per value`]: () => {
    for (let i = 0; i < BATCH; i++) baseline.encrypt(Buffer.from(value, 'utf8'));
  },
  [`plain Fernet decrypt, ${BATCH} in a loop, per value`]: () => {
    for (let i = 0; i < BATCH; i++) baseline.decrypt(baselineToken).toString('utf8');
  },
  [`cmek encrypt, ${BATCH} awaited in a loop, per value`]: async () => {
    for (let i = 0; i < BATCH; i++) await env.encrypt(value, { context });
  },
  [`cmek decrypt, ${BATCH} awaited in a loop, per value`]: async () => {
    for (let i = 0; i < BATCH; i++) await env.decrypt(token, { context });
  },
  [`cmek encryptMany, ${BATCH} values, per value`]: () => env.encryptMany(batchValues, { context }),
  [`cmek decryptMany, ${BATCH} tokens, per value`]: () => env.decryptMany(batchTokens, { context }),
  // the hit paths, step by step
  'sealFernetWith (a cached value key)': () => sealFernetWith(fk, plaintext, iv, 1_700_000_000),
  'openFernetWith (a cached value key)': () => openFernetWith(fk, fernetText),
  'randomBytesFromPool(16) (the IV, as the core draws it)': () => randomBytesFromPool(16),
  'randomBytes(16) (the IV, as plain Fernet draws it)': () => randomBytes(16),
  'canonicalContextOf({ field }) (memoized per field)': () => canonicalContextOf(context),
  'tryDecodeB64urlPadded (the core now: no regex, no re-encode)': () =>
    tryDecodeB64urlPadded(fernetText),
  'Buffer.from(base64url) alone': () => Buffer.from(fernetText, 'base64url'),
  'encodeB64urlPadded (Fernet bytes)': () => encodeB64urlPadded(fernetRaw),
  'one createHmac over the Fernet bytes': () =>
    createHmac('sha256', vk.subarray(0, 16)).update(fernetRaw.subarray(0, -32)).digest(),
  'AES-128-CBC encrypt alone': () => {
    const c = createCipheriv('aes-128-cbc', vk.subarray(16), iv);
    return Buffer.concat([c.update(plaintext), c.final()]);
  },
  'Promise.resolve round trip': () => Promise.resolve(1),
  // the miss paths only
  'parseToken (kek + salt parts, record; a DEK cache miss)': () => parseToken(token),
  'decodeSalt (a value-key cache miss)': () => decodeSalt(parsed.saltText),
  'canonicalContext (not memoized)': () => canonicalContext(context),
  'deriveValueKey: 2 x createHmac (the core)': () => deriveValueKey(dek, salt, canon),
  'deriveValueKey: hkdfSync': () => hkdfSync('sha256', dek, salt, INFO, 32),
  'deriveValueKey: 4 x crypto.hash (prototype)': () => deriveOneShot(dek, salt, canon),
  // earlier findings, for comparison
  'the grouped PADDED regex alone (removed from the core)': () => PADDED_GROUPED.test(fernetText),
  'decode + re-encode compare (the old finding 1 proposal)': () => decodePaddedReencode(fernetText),
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
    const divisor = task.name.endsWith(', per value') ? BATCH : 1;
    list.push((samples[samples.length >> 1]! * 1000) / divisor);
    results.set(task.name, list);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
await env.close();
await perValue.close();
await missReader.close();

console.log(
  `node ${process.version}, ${SIZE} B values, median iteration time, median of ${ROUNDS} rounds, ` +
    `load average ${loadBefore} before, ${load()} after\n`,
);
console.log('| step | µs per call |');
console.log('|---|---:|');
for (const [name, list] of results) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`| ${name} | ${sorted[sorted.length >> 1]!.toFixed(2)} |`);
}
