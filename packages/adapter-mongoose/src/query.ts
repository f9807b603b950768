/**
 * The query paths: `find`, `findOne`, `countDocuments`, `distinct`, the deletes, the updates and
 * the replacements. Before a query runs, an equality lookup of a blind-indexed path in its filter
 * is rewritten to the index path (index-lookups.ts), its filter and sort are checked, and an update or a
 * replacement is replaced by its encrypted copy (update.ts; the caller's object is not changed);
 * after it, the documents it returns are decrypted (read.ts).
 */
import { builtIn, type HookSchema } from './hooks';
import { refuseUpsertLookup, rewriteLookups } from './index-lookups';
import { isObject } from './objects';
import { contextsOf, type ModelLike, type PluginConfig, tenantContextsOf } from './options';
import type { FieldPath } from './paths';
import { checkFilter, checkKey, checkSort } from './query-rules';
import { decryptResults } from './read';
import { encryptReplacement, encryptUpdate } from './update';

/** The parts of a Mongoose query the hooks use. */
interface QueryLike {
  readonly op?: string;
  readonly model: ModelLike;
  readonly _distinct?: unknown;
  getFilter(): unknown;
  setQuery(filter: unknown): void;
  getUpdate(): unknown;
  setUpdate(update: unknown): void;
  getOptions(): Record<string, unknown>;
}

const QUERY = { document: false, query: true };
const FILTERED = [
  'find',
  'findOne',
  'countDocuments',
  'distinct',
  'deleteOne',
  'deleteMany',
  'findOneAndDelete',
  'updateOne',
  'updateMany',
  'findOneAndUpdate',
  'replaceOne',
  'findOneAndReplace',
];
const UPDATES = new Set(['updateOne', 'updateMany', 'findOneAndUpdate']);
const REPLACEMENTS = new Set(['replaceOne', 'findOneAndReplace']);
const RETURNING = ['find', 'findOne', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete'];

/** Registers the query hooks of the plugin on `hooks`. */
export function registerQueryHooks(hooks: HookSchema, config: PluginConfig): void {
  const { fields } = config;
  const prepareQuery = async function (this: QueryLike) {
    // an equality lookup of a blind-indexed path goes to its index path (index-lookups.ts)
    const filter = this.getFilter();
    const lookups: FieldPath[] = [];
    const rewritten = rewriteLookups(filter, config, contextsOf(config, this.model), lookups);
    if (this.getOptions().upsert === true) refuseUpsertLookup(lookups);
    if (rewritten !== filter) this.setQuery(rewritten);
    checkFilter(rewritten, fields);
    checkSort(this.getOptions().sort, fields);
    const op = this.op ?? '';
    if (op === 'distinct') checkKey(this._distinct, fields, 'distinct');
    if (UPDATES.has(op)) {
      const update = this.getUpdate();
      if (update != null) {
        this.setUpdate(
          await encryptUpdate(
            config,
            update,
            fields,
            tenantContextsOf(config, this.model),
            rewritten,
          ),
        );
      }
    } else if (REPLACEMENTS.has(op)) {
      const replacement = this.getUpdate();
      if (replacement != null) {
        this.setUpdate(
          await encryptReplacement(
            config,
            replacement,
            fields,
            tenantContextsOf(config, this.model),
          ),
        );
      }
    }
  };
  hooks.pre(FILTERED, QUERY, builtIn(prepareQuery));
  const decryptQueryResult = async function (this: QueryLike, result: unknown) {
    const options = this.getOptions();
    const wrapped =
      (options.includeResultMetadata === true || options.rawResult === true) &&
      isObject(result) &&
      'value' in result;
    await decryptResults(
      config,
      wrapped ? result.value : result,
      tenantContextsOf(config, this.model),
    );
  };
  hooks.post(RETURNING, QUERY, builtIn(decryptQueryResult));
}
