/**
 * Detects a second copy of @kiln/tensor in one program.
 *
 * npm installs a nested copy when two packages ask for incompatible versions; each copy then has
 * its own `Tensor` class, backend registry and dispatch hooks, so a tensor made by one is "not a
 * Tensor" to the other and a backend initialised in one is missing in the other — misleading
 * errors far from the cause. Every copy records where it was loaded from in one registry on
 * `globalThis` (keyed by `Symbol.for`, which all copies share); `init` refuses to start when more
 * than one place is recorded, and the errors that a second copy typically causes say so.
 *
 * Keyed by module URL: re-evaluating the same file (a test runner resetting modules) is the same
 * copy. Two copies bundled into one file share a URL and are not told apart.
 */

const REGISTRY = Symbol.for('@kiln/tensor: loaded copies');

function registry(): Set<string> {
  const g = globalThis as { [REGISTRY]?: Set<string> };
  g[REGISTRY] ??= new Set();
  return g[REGISTRY];
}

/** Records the copy loaded from `url` (each copy calls this once, from `tensor.ts`). */
export function registerCopy(url: string): void {
  registry().add(url);
}

/** Where each copy of @kiln/tensor in this program was loaded from (one entry when all is well). */
export function loadedTensorCopies(): string[] {
  return [...registry()];
}

/** What to tell a user when more than one copy is loaded; empty when there is one. */
export function secondCopyMessage(): string {
  const copies = loadedTensorCopies();
  if (copies.length < 2) return '';
  return (
    `@kiln/tensor is loaded ${copies.length} times, from ${copies.join(' and ')}. Each copy has its own ` +
    "Tensor class and backends, so tensors from one are not Tensors to the other ('expected a Tensor', " +
    "'No backend initialised'). This happens when @kiln packages ask for different @kiln/tensor versions: " +
    'run `npm ls @kiln/tensor`, install one version that satisfies every @kiln package (they list it as a peer ' +
    'dependency), and make your bundler resolve a single copy.'
  );
}

/** Throws when a second copy is loaded (called at start-up, by `init` and `initBackend`). */
export function assertSingleCopy(): void {
  const message = secondCopyMessage();
  if (message) throw new Error(message);
}

/** ` (hint)` to append to an error that a second copy would cause; empty when there is one copy. */
export function secondCopyHint(): string {
  const message = secondCopyMessage();
  return message ? ` (${message})` : '';
}
