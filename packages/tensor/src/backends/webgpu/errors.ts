import { BackendError } from '../../errors.js';

/**
 * Collects device errors without stalling the queue.
 *
 * WebGPU reports validation and out-of-memory errors asynchronously. Awaiting `popErrorScope`
 * after every dispatch would serialise the CPU and the GPU, so each scope's promise only gets a
 * handler that records the error together with the op that caused it; the recorded error is
 * thrown at the next sync point (`download`, `sync`). A lost device is sticky: every later call
 * throws, saying why it was lost.
 */
export class DeviceErrors {
  #device: GPUDevice;
  #first: BackendError | null = null;
  #count = 0;
  #pending = new Set<Promise<void>>();
  #lost: string | null = null;
  #destroyed = false;

  constructor(device: GPUDevice) {
    this.#device = device;
    device.lost.then((info) => {
      if (!this.#destroyed) this.#lost = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
    });
    // Errors raised outside any scope (should not happen, but never lose one).
    device.addEventListener('uncapturederror', (event) => {
      this.#record('uncaptured', (event as GPUUncapturedErrorEvent).error);
    });
  }

  /**
   * Runs `fn` inside a validation scope (and an out-of-memory scope when `oom`), attributing
   * any error to `what` (the op or kernel name). Does not wait for the result.
   */
  scope<T>(what: string, fn: () => T, oom = false): T {
    const device = this.#device;
    if (oom) device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      return fn();
    } finally {
      this.#watch(what, device.popErrorScope());
      if (oom) this.#watch(what, device.popErrorScope());
    }
  }

  #watch(what: string, popped: Promise<GPUError | null>): void {
    const p: Promise<void> = popped.then(
      (err) => {
        if (err) this.#record(what, err);
        this.#pending.delete(p);
      },
      (err: unknown) => {
        // popErrorScope rejects only when the device is gone; `lost` reports that.
        this.#pending.delete(p);
        if (!this.#lost && !this.#destroyed) this.#record(what, { message: String(err) } as GPUError);
      },
    );
    this.#pending.add(p);
  }

  #record(what: string, err: GPUError): void {
    this.#count++;
    if (this.#first) return;
    const kind =
      err.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(err.message)
        ? 'out of memory'
        : 'validation error';
    this.#first = new BackendError(`webgpu: ${what} failed (${kind}): ${err.message.trim()}`);
  }

  /** Marks the device as deliberately destroyed (later calls say so instead of "lost"). */
  markDestroyed(): void {
    this.#destroyed = true;
  }

  /** Throws if the device was lost or destroyed. Called at the start of every backend method. */
  assertUsable(op: string): void {
    if (this.#destroyed) throw new BackendError(`webgpu: ${op} called after the backend was destroyed`);
    if (this.#lost) {
      throw new BackendError(
        `webgpu: ${op} failed: the GPU device was lost (${this.#lost}); its tensors are gone. ` +
          "Re-create the backend with destroyBackend('webgpu') and initBackend('webgpu').",
      );
    }
  }

  /** Waits for outstanding error scopes and throws the first recorded error (then forgets it). */
  async check(op: string): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    this.assertUsable(op);
    const first = this.#first;
    if (!first) return;
    const more = this.#count - 1;
    this.#first = null;
    this.#count = 0;
    if (more > 0) first.message += ` (and ${more} more error${more > 1 ? 's' : ''} since the last sync)`;
    throw first;
  }
}
