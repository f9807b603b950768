/**
 * Encryption on every write path, in an awaited step before the query runs.
 *
 * Drizzle binds each value written to a column as a `Param` whose encoder is the column
 * (`insert().values()`, `update().set()`, `onConflictDoUpdate({ set })`,
 * `onDuplicateKeyUpdate({ set })`, and the `$defaultFn` / `$onUpdate` values it adds when the
 * statement is built). The wrapper builds the statement once, finds the `Param`s of encrypted
 * columns, encrypts their values in one batch per column (the DEK leased from the envelope's
 * cache) and puts the tokens in their place; Drizzle then runs that statement.
 */
import { CmekQueryError, type Encryptable, groupByTenant, sealCells } from '@cmek/core';
import { is, type Param, Placeholder } from 'drizzle-orm';
import { type CmekConfig, encryptedField, type FieldConfig } from './options';
import { walkSql } from './sql-walk';
import { tenantKeyFor, tenantOfParam } from './tenant';

export interface EncryptedParam {
  readonly field: FieldConfig;
  readonly param: Param;
}

/** The bound values of `statement` that are written to encrypted columns. */
export function encryptedParams(config: CmekConfig, statement: unknown): EncryptedParam[] {
  const out: EncryptedParam[] = [];
  walkSql(statement, {
    param(param) {
      const encoder = param?.encoder as unknown;
      if (!param || encoder === undefined || encoder === null) return;
      const field = encryptedField(config, encoder as FieldConfig['column']);
      if (!field) return;
      if (is(param.value, Placeholder)) {
        throw new CmekQueryError(
          field.label,
          `${field.label} is encrypted and cannot be bound to a placeholder (sql.placeholder): the value is only known when the prepared statement runs, after encryption; pass the value itself`,
        );
      }
      out.push({ field, param });
    },
  });
  return out;
}

/** What `sealParams` did: the plaintext of each sealed `Param`, and the strings to scrub. */
export interface Sealed {
  readonly plaintexts: Map<Param, Encryptable | null>;
  /** Every stored token and plaintext, to scrub from errors. */
  readonly secrets: string[];
}

/**
 * Encrypts the values of `params` in place (one batch per column and tenant; non-string values
 * refused before any KEK call). `tenants`: the tenants the statement writes, for the values not
 * traced to a row (`tenantOfParam`).
 */
export async function sealParams(
  config: CmekConfig,
  params: readonly EncryptedParam[],
  tenants: ReadonlySet<string | null> = new Set(),
): Promise<Sealed> {
  const plaintextOf = new Map<Param, Encryptable | null>();
  if (params.length === 0) return { plaintexts: plaintextOf, secrets: [] };
  // one batch per column and tenant
  const groups = groupByTenant(
    params.map(({ field, param }) => ({
      field,
      tenant: tenantOfParam(field, param, tenants),
      item: param,
    })),
    tenantKeyFor(config),
  );
  const sealed = await sealCells(
    config.envelope,
    groups.map(({ field, context, items }) => ({
      label: field.label,
      context,
      values: items.map((p) => p.value),
    })),
  );
  const secrets: string[] = [];
  for (const [g, { items }] of groups.entries()) {
    const { stored, plaintexts } = sealed[g]!;
    for (const [i, param] of items.entries()) {
      (param as { value: unknown }).value = stored[i] ?? null;
      const plain = plaintexts[i];
      plaintextOf.set(param, plain ?? null);
      if (typeof stored[i] === 'string') secrets.push(stored[i]!);
      if (typeof plain === 'string') secrets.push(plain);
    }
  }
  return { plaintexts: plaintextOf, secrets };
}
