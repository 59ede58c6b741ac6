import { BackendError } from '../../errors.js';
import { envVar } from './env.js';
import type { DeviceErrors } from './errors.js';
import { ParamArena } from './params.js';
import type { KernelSource, PipelineCache } from './pipelines.js';
import { quietAwait, quietAwaitAvailable } from './quiet-await.js';
import { WaitPacer } from './wait-pacer.js';

/** One kernel launch: what to run, its uniform words and its workgroup grid. */
export interface Launch {
  kernel: KernelSource;
  params: readonly number[];
  grid: readonly [number, number, number];
  /**
   * Floating-point operations the launch performs, when the kernel is compute-bound and known
   * (matmul). Lets the executor predict how long submitted work runs: see {@link Executor.wait}.
   */
  flops?: number;
}

/**
 * How waits on the device go (`KILN_WEBGPU_WAIT`, to measure what each part saves):
 * - default: in Node, await quietly (quiet-await.ts) and do not sleep first: the quiet await
 *   already leaves the cores to the kernels, and a predicted sleep overshoots whenever the device
 *   runs faster than learned (measured: matmul 1024³ through Kiln at 0.49–0.59× a raw kernel's
 *   rate with the sleep, 0.99× without). Where the quiet await is not available (browsers),
 *   sleep most of a predictably long wait first ({@link WaitPacer}), then await.
 * - `paced`: sleep first, then await quietly; `spin`: sleep first, then await plainly (the
 *   behaviour before the quiet await); `plain`: neither.
 */
const WAIT_MODE = envVar('KILN_WEBGPU_WAIT');
const QUIET_AWAIT = quietAwaitAvailable && WAIT_MODE !== 'plain' && WAIT_MODE !== 'spin';
const SLEEP_FIRST = WAIT_MODE === 'paced' || WAIT_MODE === 'spin' || (WAIT_MODE !== 'plain' && !QUIET_AWAIT);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  /** Submit after this many dispatches even without a readback (keeps the GPU fed). */
  maxDispatchesPerSubmit: number;
  /** Bytes of the uniform arena (one command buffer's parameters). */
  arenaBytes: number;
  uniformAlignment: number;
  maxWorkgroupsPerDimension: number;
}

/**
 * Records work into one open command encoder and submits it in batches.
 *
 * Kernel calls only encode: a compute pass per dispatch (labelled with the op, so Dawn's own
 * messages name it), parameters in the shared {@link ParamArena}. The encoder is submitted when
 * a readback needs it, on `sync()`, when the arena is full, or every `maxDispatchesPerSubmit`
 * dispatches. Host→device writes are encoded as buffer copies into the same encoder, so they
 * stay ordered with the dispatches around them.
 */
export class Executor {
  readonly #device: GPUDevice;
  readonly #errors: DeviceErrors;
  readonly #pipelines: PipelineCache;
  readonly #arena: ParamArena;
  readonly #options: ExecutorOptions;
  #encoder: GPUCommandEncoder | null = null;
  #dispatches = 0;
  #ops = new Set<string>();
  #afterSubmit: GPUBuffer[] = [];
  /** Known flops encoded in the open encoder, and whether encoding it compiled a pipeline. */
  #encodedFlops = 0;
  #encodedCold = false;
  /** When to sleep instead of waiting on the device (see {@link Executor.wait}). */
  readonly #pacer = new WaitPacer();
  /** Command buffers submitted so far (for tests and diagnostics). */
  submits = 0;
  /** Waits that slept before asking the device, and the milliseconds slept (diagnostics). */
  sleeps = { count: 0, ms: 0 };

  constructor(device: GPUDevice, errors: DeviceErrors, pipelines: PipelineCache, options: ExecutorOptions) {
    this.#device = device;
    this.#errors = errors;
    this.#pipelines = pipelines;
    this.#options = options;
    this.#arena = new ParamArena(device, options.arenaBytes, options.uniformAlignment);
  }

  /** Dispatches waiting in the open encoder. */
  get pending(): number {
    return this.#dispatches;
  }

  #openEncoder(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.#device.createCommandEncoder({ label: 'kiln' });
    return this.#encoder;
  }

  /** Encodes one dispatch of `launch` with `buffers` bound at 1..n. Errors are attributed to `op`. */
  dispatch(op: string, launch: Launch, buffers: readonly GPUBuffer[]): void {
    const [x, y, z] = launch.grid;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.#options.maxWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new BackendError(
        `webgpu: ${op}: grid [${x},${y},${z}] exceeds ${max} workgroups per dimension (kernel ${launch.kernel.key})`,
      );
    }
    const compiledBefore = this.#pipelines.size;
    const compiled = this.#pipelines.get(launch.kernel, op);
    if (this.#pipelines.size !== compiledBefore) this.#encodedCold = true;
    let slice = this.#arena.push(launch.params);
    if (!slice) {
      this.flush();
      slice = this.#arena.push(launch.params);
      if (!slice)
        throw new BackendError(
          `webgpu: ${op}: ${launch.params.length} parameter words do not fit the uniform arena`,
        );
    }
    const uniforms = slice;
    this.#errors.scope(op, () => {
      const bindGroup = this.#device.createBindGroup({
        layout: compiled.layout,
        entries: [
          {
            binding: 0,
            resource: { buffer: this.#arena.buffer, offset: uniforms.offset, size: uniforms.size },
          },
          ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
        ],
      });
      const pass = this.#openEncoder().beginComputePass({ label: op });
      pass.setPipeline(compiled.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    });
    this.#ops.add(op);
    this.#encodedFlops += launch.flops ?? 0;
    if (++this.#dispatches >= this.#options.maxDispatchesPerSubmit) this.flush();
  }

  /** Encodes a buffer-to-buffer copy, ordered after everything encoded so far. */
  copy(
    op: string,
    src: GPUBuffer,
    srcOffset: number,
    dst: GPUBuffer,
    dstOffset: number,
    bytes: number,
  ): void {
    if (bytes === 0) return;
    this.#errors.scope(op, () =>
      this.#openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes),
    );
    this.#ops.add(op);
  }

  /** Encodes zeroing `bytes` of `buffer` from `offset` (both multiples of 4), ordered like {@link copy}. */
  clear(op: string, buffer: GPUBuffer, offset: number, bytes: number): void {
    if (bytes === 0) return;
    this.#errors.scope(op, () => this.#openEncoder().clearBuffer(buffer, offset, bytes));
    this.#ops.add(op);
  }

  /**
   * Destroys `buffer` once the open command buffer (which may use it) is submitted; at once when
   * nothing is open. Destroying after submission is safe: submitted work still completes.
   */
  destroyAfterSubmit(buffer: GPUBuffer): void {
    if (this.#encoder) this.#afterSubmit.push(buffer);
    else buffer.destroy();
  }

  /** Submits the open encoder (if any) after writing the uniform arena. */
  flush(): void {
    const encoder = this.#encoder;
    if (!encoder) return;
    this.#encoder = null;
    const ops = [...this.#ops];
    const what = `submit of ${this.#dispatches} dispatches (ops: ${ops.slice(0, 12).join(', ')}${ops.length > 12 ? ', …' : ''})`;
    this.#dispatches = 0;
    this.#ops.clear();
    this.#errors.scope(what, () => {
      this.#arena.upload(this.#device.queue);
      this.#device.queue.submit([encoder.finish()]);
    });
    this.submits++;
    this.#pacer.submitted(this.#encodedFlops, this.#encodedCold, performance.now());
    this.#encodedFlops = 0;
    this.#encodedCold = false;
    for (const b of this.#afterSubmit) b.destroy();
    this.#afterSubmit = [];
  }

  /** Sleeps that overshot the device and made the pacer forget the learned speed (diagnostics). */
  get oversleeps(): number {
    return this.#pacer.oversleeps;
  }

  /**
   * Waits for `until` (a promise on the device: a buffer map, `onSubmittedWorkDone`), which must
   * settle only after everything submitted so far has run, without taking a CPU core from the
   * kernels while it is pending: in Node by awaiting quietly (quiet-await.ts), elsewhere by first
   * sleeping most of predictably long work (why and how: {@link WaitPacer}; the work was
   * submitted before, `flush`, so it runs during the sleep). See `WAIT_MODE` for the switches.
   *
   * `paced: false` waits at once and teaches the pacer nothing: for timing measurements
   * (autotuning), which a sleep would inflate and whose variants run at speeds the chosen
   * kernels will not.
   */
  async wait<T>(until: () => Promise<T>, { paced = true }: { paced?: boolean } = {}): Promise<T> {
    const { flops, cold, sleepMs } = this.#pacer.begin(performance.now());
    let slept = 0;
    if (sleepMs > 0 && paced && SLEEP_FIRST) {
      const start = performance.now();
      await sleep(sleepMs);
      slept = performance.now() - start;
      this.sleeps.count++;
      this.sleeps.ms += slept;
    }
    const woke = performance.now();
    try {
      return await (QUIET_AWAIT ? quietAwait(until()) : until());
    } finally {
      this.#pacer.finished({ flops, cold: cold || !paced, slept, woke, done: performance.now() });
    }
  }

  /** Submits pending work and waits until the device finished everything submitted (`paced`: see {@link wait}). */
  async idle(options: { paced?: boolean } = {}): Promise<void> {
    this.flush();
    await this.wait(() => this.#device.queue.onSubmittedWorkDone(), options);
  }
}
