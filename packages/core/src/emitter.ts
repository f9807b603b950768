/** The one way a listener is called: a throwing listener is ignored (metrics must not break crypto). */
import { CmekConfigError } from './errors';
import type { CmekEvent, CmekEventListener } from './events';

export type Emit = (event: CmekEvent) => void;

const SILENT: Emit = () => undefined;

/** The emitter of an `onEvent` option; `undefined` when there is none. */
export function listenerOf(listener: unknown): Emit | undefined {
  if (listener === undefined) return undefined;
  if (typeof listener !== 'function') throw new CmekConfigError('onEvent must be a function');
  const call = listener as CmekEventListener;
  return (event: CmekEvent) => {
    try {
      call(event);
    } catch {
      // A failing metrics hook must not break the caller.
    }
  };
}

/** As `listenerOf`, with a no-op emitter when there is no listener. */
export function emitterOf(listener: unknown): Emit {
  return listenerOf(listener) ?? SILENT;
}
