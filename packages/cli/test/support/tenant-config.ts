/**
 * A test config for tenant runs: a better-sqlite3 table `(id, tenant, secret)` behind a row store
 * that declares `tenantColumn: 'tenant'`, and a tenant envelope whose resolver maps each tenant to
 * a `memoryKekProvider` (from fixed KEK bytes, so values survive from one command to the next), to
 * a keyring (a tenant being moved: its new key primary, the old one decrypt-only) or to
 * `'default'`. `plain: true` gives the same table as a store without a tenant column and a plain
 * keyring (what `--tenant` refuses). `onProgress` calls the hook a test registered under `tag`.
 */
import { createKeyring, createTenantEnvelope, type KekProvider, type Row } from '@cmek/core';
import type { ProgressEvent } from '@cmek/core/engine';
import { memoryKekProvider } from '@cmek/test-suite';
import Database from 'better-sqlite3';
import { defineConfig } from '../../src/index';

/** Hex of 32 bytes, or a move: the new key's hex primary, the old one's decrypt-only. */
export type TenantKeySpec =
  | string
  | 'default'
  | { readonly primary: string; readonly from: string };

export interface TenantFixture {
  readonly tag: string;
  readonly file: string;
  readonly table: string;
  /** The default KEK's hex. */
  readonly defaultKek: string;
  readonly tenants: Readonly<Record<string, TenantKeySpec>>;
  readonly plain?: boolean;
}

const hooks = (): Map<string, (event: ProgressEvent) => void> => {
  const g = globalThis as { __cmekTenantHooks?: Map<string, (event: ProgressEvent) => void> };
  g.__cmekTenantHooks ??= new Map();
  return g.__cmekTenantHooks;
};

/** Calls `hook` with every progress event of the commands run with the fixture `tag`. */
export function onTenantProgress(tag: string, hook: (event: ProgressEvent) => void): () => void {
  hooks().set(tag, hook);
  return () => hooks().delete(tag);
}

export const memoryKek = (hex: string): KekProvider =>
  memoryKekProvider({ kek: Buffer.from(hex, 'hex') });

function tenantStore(fixture: TenantFixture) {
  const { table } = fixture;
  const db = new Database(fixture.file);
  db.pragma('busy_timeout = 10000');
  const select = `SELECT id, tenant, secret FROM ${table}`;
  const scans = {
    all: db.prepare(`${select} WHERE id > ? ORDER BY id LIMIT ?`),
    one: db.prepare(`${select} WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?`),
  };
  const counts = {
    all: db.prepare(`SELECT count(*) AS n FROM ${table}`),
    one: db.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant = ?`),
  };
  const cas = db.prepare(`UPDATE ${table} SET secret = ? WHERE id = ? AND secret = ?`);
  const plain = fixture.plain === true;
  return {
    name: table,
    fields: ['secret'],
    ...(plain ? {} : { tenantColumn: 'tenant' }),
    contextFor: (field: string, tenant?: string) => ({
      field: `${table}.${field}`,
      ...(tenant === undefined ? {} : { tenant }),
    }),
    async scan(after: string | number | undefined, limit: number, options?: { tenant?: string }) {
      const from = after ?? 0;
      const rows = (
        options?.tenant === undefined
          ? scans.all.all(from, limit)
          : scans.one.all(options.tenant, from, limit)
      ) as { id: number; tenant: string | null; secret: string | null }[];
      return rows.map(
        (r): Row => ({
          id: r.id,
          values: { secret: r.secret },
          ...(plain ? {} : { tenant: r.tenant }),
        }),
      );
    },
    async count(options?: { tenant?: string }) {
      const row = (
        options?.tenant === undefined ? counts.all.get() : counts.one.get(options.tenant)
      ) as { n: number };
      return row.n;
    },
    async compareAndSet(id: string | number, _field: string, expected: string, next: string) {
      return cas.run(next, id, expected).changes === 1;
    },
    close: () => db.close(),
  };
}

export function makeTenantConfig(fixture: TenantFixture) {
  let store: ReturnType<typeof tenantStore> | undefined;
  const stores = () => {
    store = tenantStore(fixture);
    return [store];
  };
  const close = () => {
    store?.close();
    store = undefined;
  };
  const onProgress = (event: ProgressEvent) => hooks().get(fixture.tag)?.(event);
  if (fixture.plain === true) {
    return defineConfig({
      keyring: () => createKeyring({ primary: memoryKek(fixture.defaultKek) }),
      stores,
      onProgress,
      close,
    });
  }
  return defineConfig({
    envelope: ({ onEvent }) =>
      createTenantEnvelope({
        defaultKek: memoryKek(fixture.defaultKek),
        resolve(tenant) {
          const spec = fixture.tenants[tenant];
          if (spec === undefined || spec === 'default') return spec;
          if (typeof spec === 'string') return memoryKek(spec);
          return createKeyring({
            primary: memoryKek(spec.primary),
            decryptOnly: [memoryKek(spec.from)],
          });
        },
        release: (_tenant, kek) => kek.close?.(),
        onEvent,
      }),
    stores,
    onProgress,
    close,
  });
}

/** The text of a `cmek.config.ts` calling `makeTenantConfig(fixture)`. */
export function tenantConfigSource(fixture: TenantFixture): string {
  const self = new URL(import.meta.url).pathname;
  return `import { makeTenantConfig } from ${JSON.stringify(self)};\nexport default makeTenantConfig(${JSON.stringify(fixture)});\n`;
}
