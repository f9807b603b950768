/**
 * Finding the places ("slots") that hold an encrypted field's values inside a document, a lean
 * object, an update or a replacement: through nested objects, subdocuments and arrays.
 *
 * In place (hydrated documents, lean results): a slot is a key of a document's raw storage
 * (`_doc`) or of a plain object, so writing it changes neither Mongoose's change tracking nor
 * the caller's view beyond the value itself. As a copy (what the caller passed to a write):
 * every object on the way to a slot is copied first, so the caller's objects are never changed.
 */
import type { FieldPath } from './paths';

export type Holder = Record<string | number, unknown>;

export interface Slot {
  readonly holder: Holder;
  readonly key: string | number;
  readonly field: FieldPath;
}

interface MongooseDocumentLike {
  readonly $__: unknown;
  _doc: Holder;
  toObject(options: Record<string, boolean>): Holder;
}

export function isMongooseDocument(value: unknown): value is MongooseDocumentLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    '$__' in value &&
    '_doc' in value &&
    typeof (value as { toObject?: unknown }).toObject === 'function'
  );
}

/** A plain object (no class: not an ObjectId, a Date, a Buffer...). */
function isPlainObject(value: unknown): value is Holder {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const TO_PLAIN = { depopulate: true, virtuals: false, getters: false, transform: false };

export class SlotFinder {
  private readonly owned = new WeakSet<object>();

  /** `copy`: copy every object on the way to a slot instead of writing into it. */
  constructor(private readonly copy: boolean) {}

  /** Makes `holder` itself writable: a copy of it in copy mode (the caller keeps the result). */
  root(value: unknown): unknown {
    if (isMongooseDocument(value)) {
      if (!this.copy) return value._doc;
      const plain = value.toObject(TO_PLAIN);
      this.owned.add(plain);
      return plain;
    }
    if (!this.copy) return value;
    if (Array.isArray(value)) return this.own([...value]);
    if (isPlainObject(value)) return this.own({ ...value });
    return value;
  }

  private own<T extends object>(value: T): T {
    this.owned.add(value);
    return value;
  }

  /** The value at `holder[key]`, made traversable (and writable, in copy mode). */
  private child(holder: Holder, key: string | number): unknown {
    const value = holder[key];
    if (typeof value !== 'object' || value === null) return value;
    if (isMongooseDocument(value)) {
      if (!this.copy) return value._doc;
      const plain = this.own(value.toObject(TO_PLAIN));
      holder[key] = plain;
      return plain;
    }
    if (!this.copy || this.owned.has(value)) return value;
    let copy: object;
    if (Array.isArray(value)) copy = [...value];
    else if (isPlainObject(value)) copy = { ...value };
    else return value;
    holder[key] = this.own(copy);
    return copy;
  }

  /** Adds to `out` the slots of `field` below `holder[key]`, `rest` being the path still to walk. */
  collect(
    holder: Holder,
    key: string | number,
    rest: readonly string[],
    field: FieldPath,
    out: Slot[],
  ): void {
    if (rest.length === 0) {
      if (holder[key] !== undefined) out.push({ holder, key, field });
      return;
    }
    const value = this.child(holder, key);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++)
        this.collect(value as unknown as Holder, i, rest, field, out);
    } else if (isPlainObject(value) && Object.hasOwn(value, rest[0]!)) {
      this.collect(value, rest[0]!, rest.slice(1), field, out);
    }
  }

  /** The slots of every field in a root object (from `root`). */
  collectAll(root: unknown, fields: readonly FieldPath[]): Slot[] {
    const out: Slot[] = [];
    if (!isPlainObject(root)) return out;
    for (const field of fields) {
      const [first, ...rest] = field.segments;
      if (Object.hasOwn(root, first!)) this.collect(root, first!, rest, field, out);
    }
    return out;
  }
}

/** `true` if `value` holds a value of `field` at `rest` (the part of its path below `value`). */
export function holds(value: unknown, rest: readonly string[], field: FieldPath): boolean {
  const out: Slot[] = [];
  new SlotFinder(false).collect({ v: value }, 'v', rest, field, out);
  return out.length > 0;
}

/** The slots grouped by field, in the order each field first appears: one core call per group. */
export function slotsByField(slots: readonly Slot[]): Map<FieldPath, Slot[]> {
  const groups = new Map<FieldPath, Slot[]>();
  for (const slot of slots) {
    const group = groups.get(slot.field);
    if (group) group.push(slot);
    else groups.set(slot.field, [slot]);
  }
  return groups;
}
