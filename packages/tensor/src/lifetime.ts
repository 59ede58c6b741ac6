/**
 * Tensor lifetimes: explicit disposal, scopes that survive `await`, and leak detection.
 *
 * GPU memory is never left to the garbage collector. A scope collects every tensor created while
 * it is active and disposes them when its function settles, except the ones it returns and the
 * ones passed to `keep`. In Node the active scope follows async continuations through
 * `AsyncLocalStorage`, so concurrent scopes stay separate across `await`. Browsers have no
 * equivalent yet: there a single scope stack is used, which is correct as long as concurrently
 * running async scopes do not interleave (document-level code that awaits one thing at a time).
 */

/** What a scope tracks: anything disposable that registers itself on creation. */
export interface Trackable {
  dispose(): void;
  readonly isDisposed: boolean;
}

interface ScopeFrame {
  items: Set<Trackable>;
}

interface ContextStore {
  getStore(): ScopeFrame[] | undefined;
  run<R>(store: ScopeFrame[], fn: () => R): R;
}

function nodeAsyncLocalStorage(): ContextStore | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => any } }).process;
  const mod = proc?.getBuiltinModule?.('node:async_hooks');
  return mod?.AsyncLocalStorage ? (new mod.AsyncLocalStorage() as ContextStore) : null;
}

const als = nodeAsyncLocalStorage();
let fallbackStack: ScopeFrame[] = [];

function activeStack(): ScopeFrame[] {
  return als ? (als.getStore() ?? []) : fallbackStack;
}

/** Registers a newly created tensor with the innermost active scope (called by the Tensor constructor). */
export function trackInScope(item: Trackable): void {
  const stack = activeStack();
  if (stack.length > 0) stack[stack.length - 1].items.add(item);
}

/**
 * Keeps tensors alive past the end of the enclosing scopes (they become the caller's to dispose).
 * Returns its argument, so `const w = keep(randn([4, 4]))` works.
 */
export function keep<T>(value: T): T {
  const stack = activeStack();
  forEachTrackable(value, (t) => {
    for (const frame of stack) frame.items.delete(t);
  });
  return value;
}

function forEachTrackable(value: unknown, fn: (t: Trackable) => void, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Trackable).dispose === 'function' && 'isDisposed' in (value as object)) {
    fn(value as Trackable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) forEachTrackable(v, fn, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) forEachTrackable(v, fn, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) forEachTrackable(v, fn, seen);
  }
}

function finish(frame: ScopeFrame, result: unknown, parent: ScopeFrame | undefined): void {
  const returned = new Set<Trackable>();
  forEachTrackable(result, (t) => returned.add(t));
  for (const item of frame.items) {
    if (returned.has(item)) {
      parent?.items.add(item); // returned tensors belong to the enclosing scope
      continue;
    }
    if (!item.isDisposed) item.dispose();
  }
  frame.items.clear();
}

/**
 * Runs `fn` and disposes every tensor created inside it, except what it returns (tensors found
 * in the returned value, arrays, Maps and plain objects) and what it passes to {@link keep}.
 * Works across `await`: `await scope(async () => { … })`.
 */
export function scope<R>(fn: () => R): R {
  const outer = activeStack();
  const frame: ScopeFrame = { items: new Set() };
  const parent = outer[outer.length - 1];
  const stack = [...outer, frame];
  let result: R;
  const saved = fallbackStack;
  try {
    if (als) {
      result = als.run(stack, fn);
    } else {
      fallbackStack = stack;
      result = fn();
    }
  } catch (e) {
    if (!als) fallbackStack = saved;
    finish(frame, undefined, parent);
    throw e;
  }
  if (!als && !(result instanceof Promise)) fallbackStack = saved;
  if (result instanceof Promise) {
    const restore = () => {
      if (!als) fallbackStack = outer;
    };
    return result.then(
      (value) => {
        restore();
        finish(frame, value, parent);
        return value;
      },
      (err) => {
        restore();
        finish(frame, undefined, parent);
        throw err;
      },
    ) as R;
  }
  finish(frame, result, parent);
  return result;
}

// ---- leak detection -------------------------------------------------------------------------

/** A tensor that was garbage-collected without being disposed. */
export interface LeakReport {
  /** Tensor id. */
  id: number;
  /** Shape and dtype at creation. */
  description: string;
  /** Stack trace of the creation site (only while leak detection is on). */
  createdAt?: string;
}

let leakDetection = false;
let onLeak: (report: LeakReport) => void = (r) => {
  console.warn(
    `[kiln] tensor #${r.id} ${r.description} was garbage-collected without dispose()${r.createdAt ? `; created at:\n${r.createdAt}` : ''}`,
  );
};
const leaks: LeakReport[] = [];

const registry = new FinalizationRegistry<LeakReport>((report) => {
  leaks.push(report);
  onLeak(report);
});

/**
 * Turns leak detection on or off. While on, each new tensor records its creation stack, and a
 * tensor collected without `dispose()` is reported (to `handler`, default `console.warn`).
 */
export function setLeakDetection(enabled: boolean, handler?: (report: LeakReport) => void): void {
  leakDetection = enabled;
  if (handler) onLeak = handler;
}

/** Leaks reported so far (collected-without-dispose tensors), oldest first. */
export function leakReports(): readonly LeakReport[] {
  return leaks;
}

/** Called by the Tensor constructor. Returns the token to pass to {@link untrackLeak} on dispose. */
export function trackLeak(target: object, id: number, description: string): object | undefined {
  if (!leakDetection) return undefined;
  const token = {};
  const createdAt = new Error().stack?.split('\n').slice(3).join('\n');
  registry.register(target, { id, description, createdAt }, token);
  return token;
}

/** Called on dispose. */
export function untrackLeak(token: object | undefined): void {
  if (token) registry.unregister(token);
}
