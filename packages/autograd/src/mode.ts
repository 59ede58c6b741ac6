/**
 * Grad mode: whether ops are recorded for backward.
 *
 * The mode follows async continuations in Node (through `AsyncLocalStorage`), so
 * `await noGrad(async () => { … await x.item() … })` stays in no-grad mode across its awaits
 * without leaking into code that runs concurrently. Browsers have no equivalent yet: there a
 * plain flag is set for the duration of `fn` (and until its promise settles), which is correct
 * as long as concurrently running async code does not interleave with it.
 */

interface ModeStore {
  enabled: boolean;
}

interface ContextStore {
  getStore(): ModeStore | undefined;
  run<R>(store: ModeStore, fn: () => R): R;
}

function nodeAsyncLocalStorage(): ContextStore | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => any } }).process;
  const mod = proc?.getBuiltinModule?.('node:async_hooks');
  return mod?.AsyncLocalStorage ? (new mod.AsyncLocalStorage() as ContextStore) : null;
}

const als = nodeAsyncLocalStorage();
const ENABLED: ModeStore = { enabled: true };
const DISABLED: ModeStore = { enabled: false };
let fallback = true;

/** True when ops are being recorded for backward (the default, outside {@link noGrad}). */
export function isGradEnabled(): boolean {
  return als ? (als.getStore() ?? ENABLED).enabled : fallback;
}

/** Runs `fn` with grad mode set to `enabled`; async functions keep the mode across their awaits. */
export function withGradMode<R>(enabled: boolean, fn: () => R): R {
  if (als) return als.run(enabled ? ENABLED : DISABLED, fn);
  const saved = fallback;
  fallback = enabled;
  let result: R;
  try {
    result = fn();
  } catch (err) {
    fallback = saved;
    throw err;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      fallback = saved;
    }) as R;
  }
  fallback = saved;
  return result;
}

/**
 * Runs `fn` without recording ops: nothing computed inside can be differentiated, and no
 * tensor is saved for backward. Use it for evaluation, sampling and optimizer updates.
 * Works with async functions: `await noGrad(async () => …)`.
 */
export function noGrad<R>(fn: () => R): R {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording switched back on (inside a {@link noGrad} region). */
export function enableGrad<R>(fn: () => R): R {
  return withGradMode(true, fn);
}
