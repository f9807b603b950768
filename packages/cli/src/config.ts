/** `cmek.config.{ts,mjs,js}`: the keyring and the stores the commands work on. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type BlindIndexer,
  CmekConfigError,
  type CmekEventListener,
  type Envelope,
  type Keyring,
  type RowStore,
  type TenantEnvelope,
} from '@cmek/core';
import type { ProgressListener } from '@cmek/core/engine';

type MaybeLazy<T> = T | (() => T | Promise<T>);

export interface CmekConfig {
  /** The keyring: `createKeyring({ primary, decryptOnly })`, or a function returning it. */
  keyring?: MaybeLazy<Keyring>;
  /**
   * The envelope `backfill` and `verify` encrypt and read with, instead of one over `keyring`: a
   * tenant envelope (`createTenantEnvelope`) for stores with a `tenantColumn`, and what
   * `--tenant` needs (`rotate --tenant X` moves X to `envelope.keyringFor(X)`). A function is
   * called once per command with the command's KEK-call listener (pass it as `onEvent`, so its
   * KEK calls are counted), and the CLI closes what it returns; an envelope object is the
   * config's to close (in `close`).
   */
  envelope?: Envelope | ((use: EnvelopeContext) => Envelope | Promise<Envelope>);
  /** The row stores (`knexRowStore`, `sequelizeRowStore`, `mongooseRowStore`, or your own). */
  stores?: MaybeLazy<readonly RowStore[]>;
  /** Called once the command is done: close database connections here. */
  close?: () => void | Promise<void>;
  /** Where checkpoints are kept. Default: `.cmek` beside the config file. */
  checkpointDir?: string;
  /**
   * The blind indexer of stores that declare index columns (`RowStore.blindIndexes`): needed by
   * `backfill` and `verify` for those stores only. A function is called once per command that
   * needs it, with the command's keyring and its KEK-call listener (pass both to
   * `loadBlindIndexes`, so its KEK call is counted); the CLI closes the indexer at the end.
   */
  indexer?: BlindIndexer | ((use: IndexerContext) => BlindIndexer | Promise<BlindIndexer>);
  /**
   * Also receives every event of the command's KEK calls and caches (e.g. `@cmek/opentelemetry`'s
   * `cmekTelemetry().envelopeOptions.onEvent`). A throwing listener is ignored.
   */
  onEvent?: CmekEventListener;
  /** Also receives the engine's progress events (e.g. `cmekTelemetry().onProgress`). */
  onProgress?: ProgressListener;
}

/** What `CmekConfig.indexer` is given when it is a function. */
export interface IndexerContext {
  /** The keyring of the command (the config's). */
  readonly keyring: Keyring;
  /** Counts the KEK calls in the command's summary: give it to `loadBlindIndexes`. */
  readonly onEvent: CmekEventListener;
}

/** What `CmekConfig.envelope` is given when it is a function. */
export interface EnvelopeContext {
  /** Counts the KEK calls in the command's summary: give it to the envelope as `onEvent`. */
  readonly onEvent: CmekEventListener;
}

/** Types the configuration; returns it unchanged. */
export function defineConfig(config: CmekConfig): CmekConfig {
  return config;
}

export const CONFIG_NAMES = [
  'cmek.config.ts',
  'cmek.config.mts',
  'cmek.config.mjs',
  'cmek.config.js',
];

/** Imports a config module and returns its default export (or the module itself). */
export type ModuleImporter = (path: string) => Promise<unknown>;

export const jitiImporter: ModuleImporter = async (path) => {
  const { createJiti } = await import('jiti');
  const jiti = createJiti(pathToFileURL(path).href, { interopDefault: true });
  return jiti.import(path, { default: true });
};

export interface LoadedConfig {
  readonly path: string;
  readonly dir: string;
  readonly config: CmekConfig;
}

export function findConfig(explicit: string | undefined, cwd: string): string {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new CmekConfigError(`the config file ${path} does not exist`);
    return path;
  }
  for (const name of CONFIG_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new CmekConfigError(
    `no ${CONFIG_NAMES.join(' / ')} in ${cwd}; create one exporting defineConfig({ keyring, stores }) or pass --config <file>`,
  );
}

export async function loadConfig(
  explicit: string | undefined,
  cwd: string,
  importer: ModuleImporter,
): Promise<LoadedConfig> {
  const path = findConfig(explicit, cwd);
  let loaded: unknown;
  try {
    loaded = await importer(path);
  } catch (error) {
    throw new CmekConfigError(`cannot load ${path} (see cause)`, { cause: error });
  }
  const config = (loaded as { default?: unknown } | null)?.default ?? loaded;
  if (typeof config !== 'object' || config === null) {
    throw new CmekConfigError(`${path} must export defineConfig({ keyring, stores }) as default`);
  }
  return { path, dir: dirname(path), config: config as CmekConfig };
}

async function value<T>(v: MaybeLazy<T> | undefined): Promise<T | undefined> {
  return typeof v === 'function' ? (v as () => T | Promise<T>)() : v;
}

export async function keyringOf(loaded: LoadedConfig): Promise<Keyring> {
  const keyring = await value(loaded.config.keyring);
  if (keyring === undefined) throw new CmekConfigError(`${loaded.path} exports no keyring`);
  return keyring;
}

/** The config's keyring, or `undefined` when it has none. */
export async function keyringIfAny(loaded: LoadedConfig): Promise<Keyring | undefined> {
  return value(loaded.config.keyring);
}

/** The config's envelope, if it has one; `owned`: the CLI made it (a function) and closes it. */
export interface ConfigEnvelope {
  readonly envelope: Envelope;
  readonly owned: boolean;
}

export async function envelopeOf(
  loaded: LoadedConfig,
  use: EnvelopeContext,
): Promise<ConfigEnvelope | undefined> {
  const option = loaded.config.envelope;
  if (option === undefined) return undefined;
  const owned = typeof option === 'function';
  const envelope = owned ? await option(use) : option;
  if (typeof envelope?.encrypt !== 'function' || typeof envelope.decrypt !== 'function') {
    throw new CmekConfigError(
      `the envelope of ${loaded.path} is not an envelope (createEnvelope / createTenantEnvelope)`,
    );
  }
  return { envelope, owned };
}

export function isTenantEnvelope(envelope: Envelope): envelope is TenantEnvelope {
  const candidate = envelope as Partial<TenantEnvelope>;
  return typeof candidate.keyringFor === 'function' && typeof candidate.tenantKey === 'string';
}

/** The tenant envelope a `--tenant` run needs: a `CmekConfigError` for any other config. */
export function tenantEnvelopeOf(
  loaded: LoadedConfig,
  configured: ConfigEnvelope | undefined,
): TenantEnvelope {
  const envelope = configured?.envelope;
  if (envelope === undefined || !isTenantEnvelope(envelope)) {
    throw new CmekConfigError(
      `--tenant needs a tenant envelope: ${loaded.path} ${envelope === undefined ? 'exports no envelope' : 'exports an envelope that is not one'} (envelope: ({ onEvent }) => createTenantEnvelope({ resolve, defaultKek, onEvent }))`,
    );
  }
  return envelope;
}

/** Refuses `--tenant` for a store that cannot filter its rows by tenant. */
export function checkTenantStores(stores: readonly RowStore[], tenant: string): void {
  if (tenant.length === 0) throw new CmekConfigError('--tenant needs a tenant id');
  for (const store of stores) {
    if (typeof store.tenantColumn !== 'string' || store.tenantColumn.length === 0) {
      throw new CmekConfigError(
        `--tenant: store '${store.name}' declares no tenantColumn, so its rows cannot be limited to one tenant (name the stores that have one with --store)`,
      );
    }
  }
}

/** The stores, or only those named (in the order named); an unknown name is a usage error. */
export async function storesOf(
  loaded: LoadedConfig,
  names: readonly string[] | undefined,
): Promise<RowStore[]> {
  const stores = await value(loaded.config.stores);
  if (!Array.isArray(stores) || stores.length === 0) {
    throw new CmekConfigError(`${loaded.path} exports no stores`);
  }
  const byName = new Map<string, RowStore>();
  for (const store of stores as RowStore[]) {
    if (byName.has(store.name)) {
      throw new CmekConfigError(`two stores in ${loaded.path} are named '${store.name}'`);
    }
    byName.set(store.name, store);
  }
  if (names === undefined || names.length === 0) return [...byName.values()];
  return names.map((name) => {
    const store = byName.get(name);
    if (store === undefined) {
      throw new CmekConfigError(
        `no store named '${name}' in ${loaded.path}; it has: ${[...byName.keys()].join(', ')}`,
      );
    }
    return store;
  });
}

/**
 * The indexer for `stores`, when one of them declares blind indexes (else `undefined`, and no
 * KEK call). A store with index columns and no `indexer` in the config is a `CmekConfigError`.
 */
export async function indexerOf(
  loaded: LoadedConfig,
  stores: readonly RowStore[],
  use: { readonly keyring: Keyring | undefined; readonly onEvent: CmekEventListener },
): Promise<BlindIndexer | undefined> {
  const indexed = stores.filter(
    (s) => s.blindIndexes !== undefined && Object.keys(s.blindIndexes).length > 0,
  );
  if (indexed.length === 0) return undefined;
  const option = loaded.config.indexer;
  if (option === undefined) {
    throw new CmekConfigError(
      `store '${indexed[0]!.name}' has blind-index columns: ${loaded.path} needs an indexer (indexer: ({ keyring, onEvent }) => loadBlindIndexes({ keys, kek: keyring, onEvent }))`,
    );
  }
  const { keyring, onEvent } = use;
  if (typeof option === 'function' && keyring === undefined) {
    throw new CmekConfigError(
      `the indexer of ${loaded.path} needs a keyring: export one (keyring), or give the tenant envelope a defaultKek`,
    );
  }
  const indexer =
    typeof option === 'function' ? await option({ keyring: keyring!, onEvent }) : option;
  if (typeof indexer?.computeAsync !== 'function') {
    throw new CmekConfigError(
      `the indexer of ${loaded.path} is not a BlindIndexer (loadBlindIndexes)`,
    );
  }
  return indexer;
}
