/**
 * KEK calls of a tenant envelope (`createTenantEnvelope`) against tenants, DEKs and rows: every
 * tenant writes its rows (`encryptMany` in pages, as the adapters do), then a cold process reads
 * them all back (`decryptMany` in pages). Half the tenants have a key of their own, half use the
 * default KEK (still with their own DEKs). The calls are counted through the `kek-call` events,
 * per tenant through their `tenant` field: they grow with tenants x DEKs, not with rows.
 *
 *   pnpm --filter @cmek/bench bench:tenants
 */
import { randomBytes } from 'node:crypto';
import {
  type CmekEvent,
  createTenantEnvelope,
  type KekProvider,
  type TenantEnvelope,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';

const PAGE = 100;

interface Scenario {
  readonly tenants: number;
  readonly rowsPerTenant: number;
  /** `dekCache.maxUses`: values per DEK. */
  readonly maxUses: number;
}

const SCENARIOS: readonly Scenario[] = [
  { tenants: 1, rowsPerTenant: 10_000, maxUses: 10_000 },
  { tenants: 10, rowsPerTenant: 1_000, maxUses: 10_000 },
  { tenants: 10, rowsPerTenant: 10_000, maxUses: 10_000 },
  { tenants: 100, rowsPerTenant: 100, maxUses: 10_000 },
  { tenants: 100, rowsPerTenant: 1_000, maxUses: 10_000 },
  { tenants: 10, rowsPerTenant: 1_000, maxUses: 250 },
];

interface Counts {
  generateDataKey: number;
  unwrap: number;
  /** Distinct tenants named by the calls' events. */
  tenants: Set<string>;
}

function tenantEnvelope(
  keys: ReadonlyMap<string, Uint8Array>,
  defaultKey: Uint8Array,
  maxUses: number,
) {
  const counts: Counts = { generateDataKey: 0, unwrap: 0, tenants: new Set() };
  const onEvent = (event: CmekEvent): void => {
    if (event.type !== 'kek-call') return;
    if (event.operation === 'generateDataKey') counts.generateDataKey++;
    else if (event.operation === 'unwrap' || event.operation === 'unwrapMany') counts.unwrap++;
    if (event.tenant !== undefined) counts.tenants.add(event.tenant);
  };
  const defaultKek = createLocalKekProviderFromKey(defaultKey);
  const own = new Map<string, KekProvider>();
  const envelope: TenantEnvelope = createTenantEnvelope({
    defaultKek,
    resolve: (tenant) => {
      const key = keys.get(tenant);
      if (key === undefined) return 'default';
      let provider = own.get(tenant);
      if (provider === undefined) {
        provider = createLocalKekProviderFromKey(key);
        own.set(tenant, provider);
      }
      return provider;
    },
    dekCache: { maxUses },
    cache: { maxTenants: 1_000 },
    onEvent,
  });
  return { envelope, counts };
}

export interface TenantBenchRow {
  readonly tenants: number;
  readonly rowsPerTenant: number;
  readonly rows: number;
  readonly maxUses: number;
  readonly deksPerTenant: number;
  /** tenants x DEKs per tenant: the calls each side should make. */
  readonly expected: number;
  readonly generateDataKey: number;
  readonly unwraps: number;
  readonly writeMs: number;
  readonly readMs: number;
  readonly ok: boolean;
}

export async function runTenantBench(): Promise<TenantBenchRow[]> {
  const out: TenantBenchRow[] = [];
  for (const { tenants, rowsPerTenant, maxUses } of SCENARIOS) {
    const ids = Array.from({ length: tenants }, (_, i) => `t${i}`);
    // Odd tenants bring their own key; even ones use the default KEK.
    const keys = new Map(ids.filter((_, i) => i % 2 === 1).map((id) => [id, randomBytes(32)]));
    const defaultKey = randomBytes(32);
    const values = Array.from({ length: rowsPerTenant }, (_, i) => `secret-${i}`);

    const writer = tenantEnvelope(keys, defaultKey, maxUses);
    const tokens = new Map<string, string[]>();
    let started = performance.now();
    for (const tenant of ids) {
      const context = { field: 'integrations.apiKey', tenant };
      const written: string[] = [];
      for (let i = 0; i < values.length; i += PAGE) {
        const page = await writer.envelope.encryptMany(values.slice(i, i + PAGE), { context });
        written.push(...(page as string[]));
      }
      tokens.set(tenant, written);
    }
    const writeMs = performance.now() - started;

    const reader = tenantEnvelope(keys, defaultKey, maxUses);
    started = performance.now();
    for (const tenant of ids) {
      const context = { field: 'integrations.apiKey', tenant };
      const all = tokens.get(tenant)!;
      for (let i = 0; i < all.length; i += PAGE) {
        const page = await reader.envelope.decryptMany(all.slice(i, i + PAGE), { context });
        if (page[0] !== values[i]) throw new Error('decryptMany returned another value');
      }
    }
    const readMs = performance.now() - started;

    const deksPerTenant = Math.ceil(rowsPerTenant / maxUses);
    const expected = tenants * deksPerTenant;
    const distinct = new Set(
      [...tokens.values()].flat().map((t) => writer.envelope.inspect(t).dekId),
    );
    out.push({
      tenants,
      rowsPerTenant,
      rows: tenants * rowsPerTenant,
      maxUses,
      deksPerTenant,
      expected,
      generateDataKey: writer.counts.generateDataKey,
      unwraps: reader.counts.unwrap,
      writeMs,
      readMs,
      ok:
        writer.counts.generateDataKey === expected &&
        reader.counts.unwrap === expected &&
        distinct.size === expected &&
        writer.counts.tenants.size === tenants &&
        reader.counts.tenants.size === tenants,
    });
    await writer.envelope.close();
    await reader.envelope.close();
  }
  return out;
}

const n = (x: number): string => x.toLocaleString('en-US');

export function tenantTable(rows: readonly TenantBenchRow[]): string {
  const lines = [
    '| tenants | rows per tenant | rows | values per DEK | expected (tenants x DEKs) | generateDataKey (write) | unwraps (cold read) | write ms | read ms | ok |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${n(r.tenants)} | ${n(r.rowsPerTenant)} | ${n(r.rows)} | ${n(r.maxUses)} | ${n(r.expected)} | ${n(r.generateDataKey)} | ${n(r.unwraps)} | ${r.writeMs.toFixed(0)} | ${r.readMs.toFixed(0)} | ${r.ok ? 'yes' : 'NO'} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runTenantBench();
  console.log(tenantTable(rows));
  if (rows.some((r) => !r.ok)) process.exitCode = 1;
}
