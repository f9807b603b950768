/**
 * The `Model.insertMany` write path. The entries of the array passed are replaced by encrypted
 * copies (the caller's objects themselves are not changed); a hydrated document, or a single
 * object (not an array), is encrypted in place.
 *
 * `insertMany` returns documents built from those encrypted copies, so they hold tokens. The
 * plaintext of each token is known from the encryption, so the returned documents get it back
 * without a decryption: the model's `insertMany` runs in a scope (an `AsyncLocalStorage` store,
 * one per call, dropped when the call ends) where the `insertMany` hooks keep
 * `token → plaintext`. A token found there is replaced by its plaintext; only what is not (an
 * `insertMany` reached without the wrapper) is decrypted.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { builtIn, type HookSchema, hookArgument } from './hooks';
import { wrapMethodOnce } from './objects';
import { type ModelLike, type PluginConfig, tenantContextsOf } from './options';
import { decryptResults } from './read';
import { isMongooseDocument, type Slot, SlotFinder } from './slots';
import { documentTenant } from './tenant';
import { encryptSlots, type Saved } from './write';

const calls = new AsyncLocalStorage<Map<string, string>>();
const WRAPPED = Symbol.for('cmek.adapter-mongoose.insert-many');

/** Keeps the plaintext of the tokens just written, for the current `insertMany` call. */
function rememberInserted(saved: readonly Saved[]): void {
  const record = calls.getStore();
  if (record === undefined) return;
  for (const { after, plaintext } of saved)
    if (typeof after === 'string') record.set(after, plaintext);
}

/** The plaintexts kept for the current `insertMany` call (empty outside one). */
function insertedPlaintexts(): ReadonlyMap<string, string> {
  return calls.getStore() ?? new Map();
}

/** Runs each `Model.insertMany` call of a model in its own scope (a no-op once done). */
export function scopeInsertMany(model: unknown): void {
  if (typeof model !== 'function') return;
  wrapMethodOnce(
    model,
    'insertMany',
    WRAPPED,
    (call) =>
      function (this: unknown, ...args: unknown[]) {
        return calls.run(new Map(), () => call.apply(this, args));
      },
  );
}

/** Registers the `insertMany` hooks of the plugin on `hooks`. */
export function registerInsertManyHooks(hooks: HookSchema, config: PluginConfig): void {
  const { fields } = config;
  const encryptInserts = async function (this: ModelLike, first: unknown, second: unknown) {
    const docs = hookArgument(first, second);
    const list: unknown[] = Array.isArray(docs) ? docs : [docs];
    // one batch per tenant (a single one without a tenantPath)
    const byTenant = new Map<string | undefined, Slot[]>();
    const add = (root: unknown, found: readonly Slot[]): void => {
      const tenant =
        config.tenantPath === undefined ? undefined : documentTenant(config.tenantPath, root);
      byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), ...found]);
    };
    for (const [i, doc] of list.entries()) {
      if (isMongooseDocument(doc) || !Array.isArray(docs)) {
        // a document is inserted as it is: encrypt its storage (decrypted again afterwards)
        const inPlace = new SlotFinder(false);
        const root = inPlace.root(doc);
        add(root, inPlace.collectAll(root, fields));
      } else {
        const finder = new SlotFinder(true);
        const copy = finder.root(doc);
        add(copy, finder.collectAll(copy, fields));
        docs[i] = copy;
      }
    }
    const contexts = tenantContextsOf(config, this);
    const batches = [...byTenant].map(([tenant, slots]) =>
      encryptSlots(config, slots, contexts(tenant)),
    );
    for (const saved of await Promise.all(batches)) rememberInserted(saved);
  };
  hooks.pre('insertMany', builtIn(encryptInserts));
  // the returned documents get the plaintext of the tokens just written back
  hooks.post(
    'insertMany',
    builtIn(async function (this: ModelLike, docs: unknown) {
      if (Array.isArray(docs)) {
        await decryptResults(config, docs, tenantContextsOf(config, this), insertedPlaintexts());
      }
    }),
  );
}
