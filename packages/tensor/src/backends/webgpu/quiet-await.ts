/**
 * Awaiting a Dawn promise without spinning the JavaScript thread.
 *
 * While a device promise (a buffer map, `onSubmittedWorkDone`) is pending, Dawn's Node binding
 * keeps turning the event loop to poll for it, so a plain `await` holds one CPU core at 100%. On
 * a software adapter (lavapipe) that core is one the kernels' worker threads need: the executor
 * already sleeps through most of a predictably long wait (wait-pacer.ts), and this covers the
 * rest (the last ~15% of a paced wait, and every wait whose length is unknown): block the thread
 * 0.5 ms at a time with `Atomics.wait`, giving the event loop one turn in between, so Dawn's
 * callbacks still run within half a millisecond of the work finishing.
 *
 * Only in Node, where the main thread may block on `Atomics.wait`; browsers (where it throws on
 * the main thread, and the GPU process runs the kernels anyway) await plainly.
 */

/** Milliseconds the thread blocks between event-loop turns. */
const SLICE_MS = 0.5;

const cell: Int32Array | undefined =
  typeof SharedArrayBuffer === 'function' &&
  typeof Atomics?.wait === 'function' &&
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
    'string' &&
  typeof setImmediate === 'function'
    ? new Int32Array(new SharedArrayBuffer(4))
    : undefined;

/** Whether {@link quietAwait} blocks in slices here (Node) or awaits plainly (browsers). */
export const quietAwaitAvailable = cell !== undefined;

/** Resolves as `promise` does; in Node without keeping a core busy while it is pending. */
export async function quietAwait<T>(promise: Promise<T>): Promise<T> {
  if (!cell) return promise;
  let settled = false;
  const done = () => {
    settled = true;
  };
  promise.then(done, done);
  while (!settled) {
    Atomics.wait(cell, 0, 0, SLICE_MS);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return promise;
}
