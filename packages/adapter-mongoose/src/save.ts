/**
 * The document write path: `doc.save()` (which `Model.create` and `Model.insertOne` use). The
 * document's raw storage holds the tokens only while the write runs; the plaintext is put back
 * after it, or after a failed save.
 */
import { CmekConfigError } from '@cmek/core';
import { builtIn, type HookSchema } from './hooks';
import { refusalIn } from './non-strings';
import { contextsOf, type ModelLike, type PluginConfig } from './options';
import { type Holder, SlotFinder } from './slots';
import { documentTenant } from './tenant';
import {
  encryptSlots,
  type IndexPlacement,
  type IndexWrite,
  placeBeside,
  restore,
  type Saved,
} from './write';

/** The parts of a Mongoose document the save hooks use. */
interface DocumentLike {
  readonly _doc: Holder;
  readonly $isSubdocument?: boolean;
  readonly constructor: ModelLike;
  readonly isNew: boolean;
  isModified(path: string): boolean;
  markModified(path: string): void;
}

/**
 * How a save writes blind indexes: those of the values it writes (every value of a new document,
 * the modified ones of a loaded document), beside them in the document's storage, marked modified
 * so that Mongoose sends them. A value unset (`doc.token = undefined`) unsets its index.
 */
function indexPlacement(doc: DocumentLike, config: PluginConfig): IndexPlacement {
  const written = (path: string): boolean => doc.isNew || doc.isModified(path);
  const place = (write: IndexWrite): void => {
    placeBeside(write);
    if (!doc.isNew) doc.markModified(write.column);
  };
  for (const [path, specs] of config.indexes) {
    if (doc._doc[path] !== undefined || !written(path)) continue;
    for (const { column } of specs) {
      if (doc._doc[column] === undefined) continue;
      delete doc._doc[column];
      if (!doc.isNew) doc.markModified(column);
    }
  }
  return { indexes: (slot) => written(slot.field.path), place };
}

/** Registers the `validate` and `save` hooks of the plugin on `hooks`. */
export function registerSaveHooks(hooks: HookSchema, config: PluginConfig): void {
  const { fields } = config;
  const saving = new WeakMap<object, Saved[]>();
  const putBack = (doc: object): void => {
    const saved = saving.get(doc);
    saving.delete(doc);
    if (saved) restore(saved);
  };
  const encryptDocument = async function (this: DocumentLike) {
    if (this.$isSubdocument === true) {
      throw new CmekConfigError(
        'cmekPlugin is applied to a schema used as a subdocument: apply it to the top-level schema and declare the nested paths there',
      );
    }
    const refused = refusalIn(this);
    if (refused !== undefined) throw refused;
    const finder = new SlotFinder(false);
    const slots = finder.collectAll(this._doc, fields);
    const { tenantPath } = config;
    const tenant = tenantPath === undefined ? undefined : documentTenant(tenantPath, this._doc);
    if (tenantPath !== undefined && !this.isNew && this.isModified(tenantPath)) {
      // a document moved to another tenant: every value is written again under the new one
      for (const slot of slots) this.markModified(slot.field.segments[0]!);
    }
    const saved = await encryptSlots(
      config,
      slots,
      contextsOf(config, this.constructor, tenant),
      config.indexes.size === 0 ? {} : indexPlacement(this, config),
    );
    saving.set(this, [...(saving.get(this) ?? []), ...saved]);
  };
  // a value a setter refused (non-strings.ts) is thrown as the core's error, before validators
  hooks.pre(
    'validate',
    builtIn(function (this: DocumentLike) {
      const refused = refusalIn(this);
      if (refused !== undefined) throw refused;
    }),
  );
  hooks.pre('save', builtIn(encryptDocument));
  hooks.post(
    'save',
    builtIn(function (this: DocumentLike) {
      putBack(this);
    }),
  );
  hooks.post(
    'save',
    builtIn(function (
      this: DocumentLike,
      error: unknown,
      _doc: unknown,
      next: (error?: unknown) => void,
    ) {
      putBack(this);
      next(error);
    }),
  );
}
