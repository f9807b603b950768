/**
 * Non-string values written to an encrypted path are refused before Mongoose casts them.
 *
 * Mongoose casts a value when it is set on a document (`new Model(…)`, `doc.set`, `create`,
 * `insertMany`): a number becomes `'7'` (stored encrypted although the README refuses it), and
 * an object fails with a `CastError` whose message, `value` and `stringValue` hold it. The
 * plugin therefore adds a setter to every encrypted `String` path; Mongoose runs the setter added
 * last first, before its cast. It refuses anything but a string, null, undefined or valid UTF-8
 * bytes (turned into their string), with a `CastError` of that copy of Mongoose (which Mongoose
 * records as it is, instead of wrapping a foreign error with the value): its message is the
 * core's `CMEK_INVALID_INPUT` message, it holds no value, and its `reason` is that
 * `CmekInvalidInputError`. The plugin's `validate` and `save` hooks then throw the
 * `CmekInvalidInputError` itself (`refusalIn`). Paths inside a `Mixed` have no schema type: the
 * middleware refuses their values (`encryptSlots`), as it does for every update and bulk write.
 */
import { isUtf8 } from 'node:buffer';
import { assertFieldValue, CmekError, CmekInvalidInputError } from '@cmek/core';
import type { FieldPath, SchemaTypeView } from './paths';

/** How the middleware and the setters name an encrypted path in an error. */
export function labelOf(field: FieldPath): string {
  return `the encrypted path '${field.path}'`;
}

/**
 * The refusal of a value an encrypted path cannot take, or `undefined` when it can: a string,
 * null, undefined, or bytes that are valid UTF-8 (the core refuses other bytes).
 */
export function refusalOf(value: unknown, label: string): CmekInvalidInputError | undefined {
  try {
    assertFieldValue(value, label);
  } catch (error) {
    if (CmekInvalidInputError.isInstance(error)) return error as CmekInvalidInputError;
    throw error;
  }
  if (value instanceof Uint8Array && !isUtf8(value)) {
    return new CmekInvalidInputError(
      `${label} is encrypted and takes bytes only as valid UTF-8 (values decrypt to strings); encode binary values (base64) first`,
    );
  }
  return undefined;
}

/** Valid UTF-8 bytes as the string they encode (what the value decrypts to). */
export function bytesToString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

interface CastErrorLike extends Error {
  value?: unknown;
  stringValue?: unknown;
  valueType?: unknown;
  reason?: unknown;
  kind?: unknown;
}

type CastErrorClass = new (
  type: string,
  value: unknown,
  path: string,
  reason?: unknown,
) => CastErrorLike;

type RefusedClass = new (path: string, reason: CmekInvalidInputError) => CastErrorLike;

const refusedClasses = new WeakMap<CastErrorClass, RefusedClass>();

/** A `CastError` subclass of one copy of Mongoose that holds no value. */
function refusedClass(Base: CastErrorClass): RefusedClass {
  const known = refusedClasses.get(Base);
  if (known !== undefined) return known;
  class CmekRefusedValueError extends Base {
    readonly code = 'CMEK_INVALID_INPUT';
    constructor(path: string, reason: CmekInvalidInputError) {
      super('string', '', path, reason);
      this.message = reason.message;
      this.value = undefined;
      this.stringValue = '';
      this.valueType = 'refused';
      const frames = (this.stack ?? '').split('\n').slice(1);
      this.stack = [`${this.name}: ${this.message}`, ...frames].join('\n');
    }
    /** Mongoose rebuilds the message from the value here; the message stays the refusal. */
    setModel(): void {}
  }
  refusedClasses.set(Base, CmekRefusedValueError);
  return CmekRefusedValueError;
}

/** The `CastError` class of the copy of Mongoose a schema type belongs to. */
function castErrorClassOf(schemaType: SchemaTypeView): CastErrorClass | undefined {
  try {
    schemaType.cast?.({}); // a plain object never casts to a string
  } catch (error) {
    if (error instanceof Error && error.name === 'CastError') {
      return error.constructor as CastErrorClass;
    }
  }
  return undefined;
}

/** Adds the refusing setter to the `String` schema type of an encrypted path. */
export function refuseNonStrings(schemaType: SchemaTypeView, field: FieldPath): void {
  if (typeof schemaType.set !== 'function') return;
  const CastError = castErrorClassOf(schemaType);
  const Refused = CastError === undefined ? undefined : refusedClass(CastError);
  const label = labelOf(field);
  schemaType.set(function cmekRefuseNonStrings(this: unknown, value: unknown): unknown {
    if (value === null || value === undefined || typeof value === 'string') return value;
    const refusal = refusalOf(value, label);
    if (refusal === undefined) return bytesToString(value as Uint8Array);
    // (without Mongoose's class, its own CastError would carry the value: throw ours instead)
    throw Refused === undefined ? refusal : new Refused(schemaType.path ?? field.path, refusal);
  });
}

interface DocumentState {
  readonly $__?: { readonly validationError?: { readonly errors?: Record<string, unknown> } };
  $getAllSubdocs?(): unknown[];
}

function refusalInErrors(doc: unknown): CmekError | undefined {
  const errors = (doc as DocumentState | null)?.$__?.validationError?.errors;
  if (errors === undefined || errors === null) return undefined;
  for (const error of Object.values(errors)) {
    const reason = (error as CastErrorLike | null)?.reason;
    if (CmekError.isInstance(reason)) return reason;
    if (CmekError.isInstance(error)) return error;
  }
  return undefined;
}

/** The refusal a setter recorded on a document or one of its subdocuments, if any. */
export function refusalIn(doc: unknown): CmekError | undefined {
  const own = refusalInErrors(doc);
  if (own !== undefined) return own;
  const subdocs = (doc as DocumentState).$getAllSubdocs?.() ?? [];
  for (const subdoc of subdocs) {
    const found = refusalInErrors(subdoc);
    if (found !== undefined) return found;
  }
  return undefined;
}
