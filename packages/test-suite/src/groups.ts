/**
 * Switching groups of a suite off: `options.skip` and `options.only`, checked against the suite's
 * stable group names. A group switched off registers no test at all.
 */
import { CmekConfigError } from '@cmek/core';

export interface GroupSelection<G extends string> {
  /** Groups not to register. */
  readonly skip?: readonly G[] | undefined;
  /** The only groups to register (then `skip` removes from them). */
  readonly only?: readonly G[] | undefined;
}

function checked<G extends string>(
  suite: string,
  option: 'skip' | 'only',
  names: readonly G[] | undefined,
  all: readonly G[],
): readonly G[] | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names)) {
    throw new CmekConfigError(`${suite}: options.${option} must be an array of group names`);
  }
  for (const name of names) {
    if (!all.includes(name)) {
      throw new CmekConfigError(
        `${suite}: unknown group ${JSON.stringify(name)} in options.${option}; the groups are ${all.join(', ')}`,
      );
    }
  }
  return names;
}

/** The groups to register: every group, or `only`, minus `skip`. Throws on an unknown name or when nothing is left. */
export function selectGroups<G extends string>(
  suite: string,
  all: readonly G[],
  selection: GroupSelection<G>,
): ReadonlySet<G> {
  const only = checked(suite, 'only', selection.only, all);
  const skip = checked(suite, 'skip', selection.skip, all) ?? [];
  const enabled = new Set<G>((only ?? all).filter((group) => !skip.includes(group)));
  if (enabled.size === 0) {
    throw new CmekConfigError(
      `${suite}: options.skip / options.only switch off every group, so nothing would be tested`,
    );
  }
  return enabled;
}
