import type {
  AdamWScalars,
  AttentionArgs,
  AttentionGrads,
  AttentionSaved,
  Backend,
  BackendInfo,
  BackendMemory,
  BinaryOp,
  MatmulActivation,
  MatmulEpilogue,
  RandomParams,
  ReduceOp,
  UnaryOp,
  UnaryParams,
  View,
} from '../../backend.js';
import { allocHost, DTYPES, type DType, type HostArray } from '../../dtype.js';
import { BackendError } from '../../errors.js';
import { sizeOf } from '../../shape.js';
import { isSoftwareAdapter, MatmulAutotune } from './autotune.js';
import { BufferUsage, DEFAULT_MAX_WORKGROUPS_PER_DIMENSION, MAP_MODE_READ } from './constants.js';
import type { OpenedDevice } from './device.js';
import { align4, decodeDevice, deviceItemSize, encodeHost } from './dtypes.js';
import { envVar } from './env.js';
import { DeviceErrors } from './errors.js';
import { Executor, type Launch } from './executor.js';
import { activationBackwardLaunch } from './kernels/activation-backward.js';
import { adamwUpdateLaunch } from './kernels/adamw-update.js';
import {
  attentionBackwardKeyLaunch,
  attentionBackwardQueryLaunch,
  attentionLaunch,
} from './kernels/attention.js';
import {
  type AttentionVariant,
  attentionBackwardKeySubgroupLaunch,
  attentionBackwardQuerySubgroupLaunch,
  attentionSubgroupLaunch,
  attentionVariant,
} from './kernels/attention-subgroup.js';
import { attentionBackwardOnePassLaunch } from './kernels/attention-subgroup-onepass.js';
import { crossEntropyLaunch } from './kernels/cross-entropy.js';
import { crossEntropyBackwardLaunch } from './kernels/cross-entropy-backward.js';
import {
  binaryLaunches,
  copyLaunches,
  fillBits,
  fillLaunches,
  unaryLaunches,
  whereLaunches,
} from './kernels/elementwise.js';
import { alignedByteRanges } from './kernels/elementwise-contiguous.js';
import {
  embeddingMergeLaunch,
  embeddingSortBlocksLaunch,
  embeddingSumLaunch,
  SORT_BLOCK,
} from './kernels/embedding-backward.js';
import { groupedMatmulBandLaunch, groupedOuterBandLaunch } from './kernels/grouped-band.js';
import { groupedMatmulLaunch } from './kernels/grouped-matmul.js';
import { groupedOuterLaunch } from './kernels/grouped-outer.js';
import { gatherLaunch, indexSelectLaunch, scatterAddLaunch } from './kernels/indexing.js';
import { matmulVariantLaunches } from './kernels/matmul.js';
import { epilogueViews } from './kernels/matmul-epilogue.js';
import { normLaunch } from './kernels/norm.js';
import { normBackwardColumnsLaunch, normBackwardRowsLaunch } from './kernels/norm-backward.js';
import { randomLaunch } from './kernels/random.js';
import { cumsumLaunch, reduceLaunch } from './kernels/reduce.js';
import { rowLanes } from './kernels/rows.js';
import { combineRowsLaunch, dispatchRowsLaunch, slotDotsLaunch } from './kernels/slot-rows.js';
import { softmaxLaunch } from './kernels/softmax.js';
import { softmaxBackwardLaunch } from './kernels/softmax-backward.js';
import { topkLaunch } from './kernels/topk.js';
import { PipelineCache } from './pipelines.js';
import { BufferPool } from './pool.js';
import { GpuStorage, type StorageUsage } from './storage.js';

type V = View<GpuStorage>;

/** Tuning knobs of {@link WebGpuBackend} (defaults suit both lavapipe and discrete GPUs). */
export interface WebGpuBackendOptions {
  /** Submit after this many encoded dispatches (default 128). */
  maxDispatchesPerSubmit?: number;
  /** Free pooled bytes above which released buffers are destroyed (default 1 GiB). */
  maxPooledBytes?: number;
}

function fmtBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/**
 * The WebGPU backend: every kernel method encodes work into the {@link Executor}'s open command
 * encoder and returns; `download` and `sync` are the only waits. Storage is one pooled GPUBuffer
 * per tensor ({@link GpuStorage}); device errors are collected by {@link DeviceErrors} and thrown
 * at the next sync point, naming the op.
 */
export class WebGpuBackend implements Backend<GpuStorage> {
  readonly name = 'webgpu';
  readonly info: BackendInfo;
  #opened: OpenedDevice | null;
  readonly #device: GPUDevice;
  readonly #errors: DeviceErrors;
  readonly #pool: BufferPool;
  readonly #pipelines: PipelineCache;
  readonly #exec: Executor;
  readonly #maxBinding: number;
  readonly #maxWorkgroups: number;
  readonly #f16: boolean;
  readonly #matmulTune: MatmulAutotune;
  /** Whether the grouped product uses its subgroup-band variant (see #groupedBand). */
  readonly #groupedBandDefault: boolean;

  constructor(opened: OpenedDevice, options: WebGpuBackendOptions = {}) {
    this.#opened = opened;
    const device = opened.device;
    this.#device = device;
    this.#f16 = opened.features.includes('shader-f16');
    this.#maxBinding = opened.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
    this.#maxWorkgroups =
      opened.limits.maxComputeWorkgroupsPerDimension ?? DEFAULT_MAX_WORKGROUPS_PER_DIMENSION;
    this.#errors = new DeviceErrors(device);
    this.#pipelines = new PipelineCache(device, this.#errors);
    this.#exec = new Executor(device, this.#errors, this.#pipelines, {
      maxDispatchesPerSubmit: options.maxDispatchesPerSubmit ?? 128,
      arenaBytes: 256 * 1024,
      uniformAlignment: opened.limits.minUniformBufferOffsetAlignment ?? 256,
      maxWorkgroupsPerDimension: this.#maxWorkgroups,
    });
    this.#pool = new BufferPool(device, this.#errors, {
      maxBindingBytes: this.#maxBinding,
      maxPooledBytes: options.maxPooledBytes ?? 2 ** 30,
      retire: (buffer) => this.#exec.destroyAfterSubmit(buffer),
    });
    // the subgroup matmul variants share A across 8 lanes by broadcast: they need >= 8 per subgroup
    this.#matmulTune = new MatmulAutotune(
      opened.description,
      opened.features.includes('subgroups') && opened.subgroupMinSize >= 8,
      this.#maxWorkgroups,
    );
    // on lavapipe the subgroup-band layout ran the MoE bench's grouped product ~2.5× faster than
    // tiles (kernels/grouped-band.ts); GPUs keep the tiled kernel
    this.#groupedBandDefault =
      isSoftwareAdapter(opened.description) &&
      opened.features.includes('subgroups') &&
      opened.subgroupMinSize >= 8;
    this.info = {
      name: 'webgpu',
      device: opened.description,
      features: [...opened.features],
      limits: { ...opened.limits },
      dtypes: DTYPES.filter((d) => d !== 'float16' || this.#f16),
    };
  }

  // ---- memory -------------------------------------------------------------------------------------

  allocate(dtype: DType, size: number, usage: StorageUsage = 'activation'): GpuStorage {
    this.#errors.assertUsable('allocate');
    if (dtype === 'float16' && !this.#f16) {
      throw new BackendError(
        `webgpu: float16 needs the 'shader-f16' feature, which this adapter (${this.info.device}) does not offer; use float32`,
      );
    }
    const bytes = size * deviceItemSize(dtype);
    if (bytes > this.#maxBinding) {
      throw new BackendError(
        `webgpu: cannot allocate ${size} ${dtype} elements (${fmtBytes(bytes)}): larger than this device's ` +
          `maxStorageBufferBindingSize (${fmtBytes(this.#maxBinding)}); split the tensor or use smaller batches`,
      );
    }
    const label = `allocate ${size} × ${dtype}`;
    const buffer = this.#pool.acquire(usage, Math.max(bytes, 4), label);
    return new GpuStorage(buffer, dtype, size, buffer.size, usage);
  }

  release(storage: GpuStorage): void {
    if (storage.released || !this.#opened) return;
    storage.released = true;
    this.#pool.release(storage.usage, storage.buffer);
  }

  /**
   * Writes host data through a fresh mapped staging buffer and an encoded copy, so the write
   * lands after every dispatch encoded before it. (`queue.writeBuffer` would run before the
   * still-open command buffer, overwriting a pooled buffer that earlier work still reads.)
   */
  upload(storage: GpuStorage, dtype: DType, data: HostArray): void {
    this.#errors.assertUsable('upload');
    if (data.length === 0) return;
    const bytes = encodeHost(dtype, data);
    const size = align4(bytes.byteLength);
    const staging = this.#errors.scope(
      'upload',
      () =>
        this.#device.createBuffer({
          size,
          usage: BufferUsage.COPY_SRC,
          mappedAtCreation: true,
          label: 'kiln upload',
        }),
      true,
    );
    new Uint8Array(staging.getMappedRange(), 0, bytes.byteLength).set(bytes);
    staging.unmap();
    this.#exec.copy('upload', staging, 0, storage.buffer, 0, size);
    this.#exec.destroyAfterSubmit(staging);
  }

  async download(storage: GpuStorage, dtype: DType, size: number): Promise<HostArray> {
    this.#errors.assertUsable('download');
    if (size === 0) {
      await this.#errors.check('download');
      return allocHost(dtype, 0);
    }
    const bytes = align4(size * deviceItemSize(dtype));
    const staging = this.#pool.acquire('staging', bytes, 'readback');
    this.#exec.copy('download', storage.buffer, 0, staging, 0, bytes);
    this.#exec.flush();
    let result: HostArray;
    try {
      let mapError: unknown = null;
      await this.#exec.wait(() =>
        staging.mapAsync(MAP_MODE_READ, 0, bytes).catch((err: unknown) => {
          mapError = err;
        }),
      );
      // a recorded device error says which op failed: it takes precedence over the map failure
      await this.#errors.check('download');
      if (mapError) throw new BackendError(`webgpu: download failed: ${(mapError as Error).message}`);
      result = decodeDevice(dtype, staging.getMappedRange(0, bytes), size);
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      this.#pool.release('staging', staging);
    }
    await this.#tuneMatmul();
    return result;
  }

  /** Measures queued matmul shape classes (see autotune.ts), at an await point after the user's work. */
  async #tuneMatmul(): Promise<void> {
    if (this.#matmulTune.pending === 0 || !this.#opened) return;
    await this.#matmulTune.tunePending(this.#device, this.#exec);
    await this.#errors.check('matmul autotune');
  }

  /** Adopts the matmul rankings stored on disk for this adapter and driver (see autotune-cache.ts). */
  restoreAutotune(): Promise<number> {
    return this.#matmulTune.restore();
  }

  /** @internal The measured matmul variant rankings per shape class (benchmarks, diagnostics). */
  matmulRankings(): ReturnType<MatmulAutotune['rankings']> {
    return this.#matmulTune.rankings();
  }

  async sync(): Promise<void> {
    this.#errors.assertUsable('sync');
    await this.#exec.idle();
    await this.#errors.check('sync');
    await this.#tuneMatmul();
  }

  memory(): BackendMemory {
    return this.#pool.stats();
  }

  /** Destroys every pooled (free) buffer. Live tensors are unaffected. */
  trim(): void {
    this.#pool.trim();
  }

  /**
   * Compiled pipelines and command buffers submitted so far, and how waits were paced: sleeps
   * before asking the device, milliseconds slept, and sleeps that overshot the device
   * (diagnostics, tests and benchmarks).
   */
  stats(): {
    pipelines: number;
    submits: number;
    pendingDispatches: number;
    sleeps: number;
    sleptMs: number;
    oversleeps: number;
  } {
    return {
      pipelines: this.#pipelines.size,
      submits: this.#exec.submits,
      pendingDispatches: this.#exec.pending,
      sleeps: this.#exec.sleeps.count,
      sleptMs: this.#exec.sleeps.ms,
      oversleeps: this.#exec.oversleeps,
    };
  }

  destroy(): void {
    if (!this.#opened) return;
    this.#errors.markDestroyed();
    // destroying the device frees every buffer; encoded but unsubmitted work is dropped
    this.#device.destroy();
    // the Dawn instance keeps Node's event loop alive while referenced: drop it
    this.#opened = null;
  }

  // ---- kernels ------------------------------------------------------------------------------------

  #run(op: string, launch: Launch, ...buffers: GPUBuffer[]): void {
    this.#exec.dispatch(op, launch, buffers);
  }

  #check(op: string): void {
    this.#errors.assertUsable(op);
  }

  /** Encodes `launches` in order, each binding `buffers`. */
  #runAll(op: string, launches: readonly Launch[], ...buffers: GPUBuffer[]): void {
    for (const launch of launches) this.#exec.dispatch(op, launch, buffers);
  }

  fill(out: V, value: number): void {
    this.#check('fill');
    if (sizeOf(out.shape) === 0) return;
    // all-zero bits over an aligned contiguous range: the encoder's clear runs at memset speed
    const range = fillBits(out.dtype, value) === 0 ? alignedByteRanges([out]) : null;
    if (range) {
      this.#exec.clear('fill', out.storage.buffer, range.offsets[0], range.bytes);
      return;
    }
    this.#runAll('fill', fillLaunches(out, value, this.#maxWorkgroups), out.storage.buffer);
  }

  copy(src: V, dst: V): void {
    this.#check('copy');
    if (sizeOf(dst.shape) === 0) return;
    // same dtype, both contiguous and 4-byte aligned: a buffer copy, at memcpy speed, encoded in
    // order with the dispatches around it (as uploads are)
    const range = src.dtype === dst.dtype ? alignedByteRanges([dst, src]) : null;
    if (range) {
      this.#exec.copy(
        'copy',
        src.storage.buffer,
        range.offsets[1],
        dst.storage.buffer,
        range.offsets[0],
        range.bytes,
      );
      return;
    }
    this.#runAll('copy', copyLaunches(src, dst, this.#maxWorkgroups), dst.storage.buffer, src.storage.buffer);
  }

  unary(op: UnaryOp, x: V, out: V, params?: UnaryParams): void {
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    this.#runAll(
      op,
      unaryLaunches(op, x, out, params, this.#maxWorkgroups),
      out.storage.buffer,
      x.storage.buffer,
    );
  }

  binary(op: BinaryOp, a: V, b: V, out: V): void {
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    this.#runAll(
      op,
      binaryLaunches(op, a, b, out, this.#maxWorkgroups),
      out.storage.buffer,
      a.storage.buffer,
      b.storage.buffer,
    );
  }

  where(cond: V, a: V, b: V, out: V): void {
    this.#check('where');
    if (sizeOf(out.shape) === 0) return;
    this.#runAll(
      'where',
      whereLaunches(cond, a, b, out, this.#maxWorkgroups),
      out.storage.buffer,
      cond.storage.buffer,
      a.storage.buffer,
      b.storage.buffer,
    );
  }

  reduce(op: ReduceOp, x: V, reducedDims: number, out: V): void {
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    this.#run(
      op,
      reduceLaunch(op, x, reducedDims, out, this.#maxWorkgroups, this.#rowLanes()),
      out.storage.buffer,
      x.storage.buffer,
    );
  }

  cumsum(x: V, out: V): void {
    this.#check('cumsum');
    if (sizeOf(out.shape) === 0) return;
    this.#run('cumsum', cumsumLaunch(x, out, this.#maxWorkgroups), out.storage.buffer, x.storage.buffer);
  }

  matmul(a: V, b: V, out: V): void {
    this.#matmul('matmul', a, b, out, undefined);
  }

  /**
   * `matmul` with a fused epilogue: out = act(a @ b + bias), preActivation = a @ b + bias when
   * given. Same variant choice as `matmul`; every variant applies the epilogue where it stores.
   */
  matmulEpilogue(a: V, b: V, out: V, epilogue: MatmulEpilogue<GpuStorage>): void {
    this.#matmul('matmulEpilogue', a, b, out, epilogue);
  }

  #matmul(op: string, a: V, b: V, out: V, epilogue: MatmulEpilogue<GpuStorage> | undefined): void {
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    // forced (KILN_MATMUL_VARIANT), measured for this shape class, or the heuristic: see autotune.ts
    const variant = this.#matmulTune.choose(a, b);
    const extra = epilogueViews(epilogue).map((v) => (v as V).storage.buffer);
    for (const launch of matmulVariantLaunches(variant, a, b, out, this.#maxWorkgroups, epilogue)) {
      this.#run(op, launch, out.storage.buffer, a.storage.buffer, b.storage.buffer, ...extra);
    }
  }

  gather(x: V, axis: number, index: V, out: V): void {
    this.#check('gather');
    if (sizeOf(out.shape) === 0) return;
    this.#run(
      'gather',
      gatherLaunch(x, axis, index, out, this.#maxWorkgroups),
      out.storage.buffer,
      index.storage.buffer,
      x.storage.buffer,
    );
  }

  indexSelect(x: V, axis: number, index: V, out: V): void {
    this.#check('indexSelect');
    if (sizeOf(out.shape) === 0) return;
    this.#run(
      'indexSelect',
      indexSelectLaunch(x, axis, index, out, this.#maxWorkgroups),
      out.storage.buffer,
      index.storage.buffer,
      x.storage.buffer,
    );
  }

  scatterAdd(out: V, axis: number, index: V, src: V): void {
    this.#check('scatterAdd');
    if (sizeOf(index.shape) === 0) return;
    this.#run(
      'scatterAdd',
      scatterAddLaunch(out, axis, index, src, this.#maxWorkgroups),
      out.storage.buffer,
      index.storage.buffer,
      src.storage.buffer,
    );
  }

  groupedMatmul(x: V, w: V, ends: V, out: V): void {
    this.#check('groupedMatmul');
    if (sizeOf(out.shape) === 0) return;
    // rows in no group stay zero: the kernel writes only the rows of its groups
    this.fill(out, 0);
    if (x.shape[0] === 0) return;
    const launch = this.#groupedBand()
      ? groupedMatmulBandLaunch(x, w, ends, out, this.#maxWorkgroups)
      : groupedMatmulLaunch(x, w, ends, out, this.#maxWorkgroups);
    const buffers = [out, x, w, ends].map((v) => v.storage.buffer);
    this.#run('groupedMatmul', launch, ...buffers);
  }

  groupedOuter(x: V, y: V, ends: V, out: V): void {
    this.#check('groupedOuter');
    if (sizeOf(out.shape) === 0) return;
    const launch = this.#groupedBand()
      ? groupedOuterBandLaunch(x, y, ends, out, this.#maxWorkgroups)
      : groupedOuterLaunch(x, y, ends, out, this.#maxWorkgroups);
    this.#run('groupedOuter', launch, ...[out, x, y, ends].map((v) => v.storage.buffer));
  }

  /**
   * The grouped kernels' variant: `KILN_GROUPED_VARIANT=band|tiled` forces one (tests run both;
   * `band` needs subgroups of 8+ lanes), else band on software adapters with subgroups.
   */
  #groupedBand(): boolean {
    const forced = envVar('KILN_GROUPED_VARIANT');
    if (forced === 'tiled') return false;
    if (forced === 'band') {
      if (!this.info.features.includes('subgroups'))
        throw new BackendError(
          'KILN_GROUPED_VARIANT=band needs the subgroups feature, which this adapter lacks; unset it',
        );
      return true;
    }
    return this.#groupedBandDefault;
  }

  dispatchRows(x: V, slots: V, gates: V | null, out: V): void {
    this.#check('dispatchRows');
    if (sizeOf(out.shape) === 0) return;
    // rows no slot names are zero; the kernel writes only named rows
    this.fill(out, 0);
    if (sizeOf(x.shape) === 0 || sizeOf(slots.shape) === 0) return;
    const launch = dispatchRowsLaunch(x, slots, gates, out, this.#maxWorkgroups);
    const views = gates ? [out, x, slots, gates] : [out, x, slots];
    this.#run('dispatchRows', launch, ...views.map((v) => v.storage.buffer));
  }

  combineRows(y: V, slots: V, gates: V | null, out: V): void {
    this.#check('combineRows');
    if (sizeOf(out.shape) === 0) return;
    const launch = combineRowsLaunch(y, slots, gates, out, this.#maxWorkgroups);
    const views = gates ? [out, y, slots, gates] : [out, y, slots];
    this.#run('combineRows', launch, ...views.map((v) => v.storage.buffer));
  }

  slotDots(x: V, y: V, slots: V, out: V): void {
    this.#check('slotDots');
    if (sizeOf(out.shape) === 0) return;
    const launch = slotDotsLaunch(x, y, slots, out, this.#maxWorkgroups);
    this.#run('slotDots', launch, ...[out, x, slots, y].map((v) => v.storage.buffer));
  }

  random(out: V, params: RandomParams): void {
    this.#check('random');
    if (sizeOf(out.shape) === 0) return;
    this.#run(`random ${params.kind}`, randomLaunch(out, params, this.#maxWorkgroups), out.storage.buffer);
  }

  topk(x: V, k: number, largest: boolean, values: V, indices: V): void {
    this.#check('topk');
    if (sizeOf(values.shape) === 0) return;
    this.#run(
      'topk',
      topkLaunch(x, k, largest, values, indices, this.#maxWorkgroups),
      x.storage.buffer,
      values.storage.buffer,
      indices.storage.buffer,
    );
  }

  /** Lanes of the subgroup row kernels (kernels/rows.ts), 0 without subgroups; read once. */
  #rowLanesValue = -1;

  #rowLanes(): number {
    if (this.#rowLanesValue < 0) {
      const opened = this.#opened;
      this.#rowLanesValue = opened
        ? rowLanes(opened.features.includes('subgroups'), opened.subgroupMinSize)
        : 0;
    }
    return this.#rowLanesValue;
  }

  softmax(x: V, out: V, log: boolean): void {
    const op = log ? 'logSoftmax' : 'softmax';
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    const launch = softmaxLaunch(x, out, log, this.#maxWorkgroups, this.#rowLanes());
    this.#run(op, launch, out.storage.buffer, x.storage.buffer);
  }

  layerNorm(x: V, weight: V | null, bias: V | null, eps: number, out: V): void {
    this.#norm('layerNorm', x, weight, bias, eps, out, true);
  }

  rmsNorm(x: V, weight: V | null, eps: number, out: V): void {
    this.#norm('rmsNorm', x, weight, null, eps, out, false);
  }

  #norm(op: string, x: V, weight: V | null, bias: V | null, eps: number, out: V, center: boolean): void {
    this.#check(op);
    if (sizeOf(out.shape) === 0) return;
    const lanes = this.#rowLanes();
    const { launch, buffers } = normLaunch(x, weight, bias, eps, out, center, this.#maxWorkgroups, lanes);
    const extra = buffers.map((b) => (b === 'weight' ? weight! : bias!).storage.buffer);
    this.#run(op, launch, out.storage.buffer, x.storage.buffer, ...extra);
  }

  crossEntropy(logits: V, targets: V, ignoreIndex: number, out: V): void {
    this.#check('crossEntropy');
    if (sizeOf(out.shape) === 0) return;
    this.#run(
      'crossEntropy',
      crossEntropyLaunch(logits, targets, ignoreIndex, out, this.#maxWorkgroups, this.#rowLanes()),
      out.storage.buffer,
      logits.storage.buffer,
      targets.storage.buffer,
    );
  }

  // ---- fused training kernels (ops/*-backward.ts, ops/attention.ts, ops/adamw-update.ts) --------

  crossEntropyBackward(logits: V, targets: V, scale: V, ignoreIndex: number, out: V): void {
    this.#check('crossEntropyBackward');
    if (sizeOf(out.shape) === 0) return;
    this.#run(
      'crossEntropyBackward',
      crossEntropyBackwardLaunch(
        logits,
        targets,
        scale,
        ignoreIndex,
        out,
        this.#maxWorkgroups,
        this.#rowLanes(),
      ),
      out.storage.buffer,
      logits.storage.buffer,
      targets.storage.buffer,
      scale.storage.buffer,
    );
  }

  softmaxBackward(y: V, g: V, log: boolean, out: V): void {
    this.#check('softmaxBackward');
    if (sizeOf(out.shape) === 0) return;
    const launch = softmaxBackwardLaunch(y, g, log, out, this.#maxWorkgroups, this.#rowLanes());
    this.#run('softmaxBackward', launch, out.storage.buffer, y.storage.buffer, g.storage.buffer);
  }

  /** Which attention kernels run for `args`: see attentionVariant. */
  #attentionVariant({ q, mask }: AttentionArgs<V>): AttentionVariant {
    const subgroups = this.info.features.includes('subgroups');
    const buffers = this.#storageBuffers();
    const software = isSoftwareAdapter(this.info.device);
    const minSize = this.#opened?.subgroupMinSize ?? 0;
    const masked = mask.ranges !== null;
    return attentionVariant(software, subgroups, minSize, buffers, q.dtype, q.shape[3], masked);
  }

  #storageBuffers(): number {
    return this.info.limits.maxStorageBuffersPerShaderStage ?? 8;
  }

  attention(args: AttentionArgs<V>, out: V, lse: V): void {
    this.#check('attention');
    if (sizeOf(out.shape) === 0) return;
    const { q, k, v, mask } = args;
    const launch = this.#attentionVariant(args) !== 'rows' ? attentionSubgroupLaunch : attentionLaunch;
    const ranges = mask.ranges ? [mask.ranges.keys.storage.buffer] : [];
    this.#run(
      'attention',
      launch(args, out, lse, this.#maxWorkgroups),
      out.storage.buffer,
      lse.storage.buffer,
      q.storage.buffer,
      k.storage.buffer,
      v.storage.buffer,
      ...ranges,
    );
  }

  attentionBackward(args: AttentionArgs<V>, saved: AttentionSaved<V>, grads: AttentionGrads<V>): void {
    this.#check('attentionBackward');
    const { q, k, v, mask } = args;
    const { lse, delta, gradOut } = saved;
    const { dq, dk, dv } = grads;
    if (sizeOf(dq.shape) === 0) return;
    // the key-side kernels bind dk, dv, the six inputs and the ranges
    if (mask.ranges && this.#storageBuffers() < 9)
      throw new BackendError(
        `webgpu: masked attention backward needs 9 storage buffers per shader stage, this device allows ${this.#storageBuffers()}; run it on the cpu backend or without segments and padding`,
      );
    const inputs = [q, k, v, lse, delta, gradOut].map((t) => t.storage.buffer);
    // query-side kernels read the keys each query sees, key-side ones the queries that see each key
    const keyRanges = mask.ranges ? [mask.ranges.keys.storage.buffer] : [];
    const queryRanges = mask.ranges ? [mask.ranges.queries.storage.buffer] : [];
    const mw = this.#maxWorkgroups;
    const variant = this.#attentionVariant(args);
    const sg = variant !== 'rows';
    if (variant === 'onepass') {
      // with ranges no key block is seen by every query: every block adds to a zeroed dq
      if (mask.ranges) this.fill(dq, 0);
      this.#run(
        'attentionBackward',
        attentionBackwardOnePassLaunch(args, saved, grads, mw),
        dq.storage.buffer,
        dk.storage.buffer,
        dv.storage.buffer,
        ...inputs,
        ...queryRanges,
      );
      return;
    }
    const queryLaunch = sg ? attentionBackwardQuerySubgroupLaunch : attentionBackwardQueryLaunch;
    const keyLaunch = sg ? attentionBackwardKeySubgroupLaunch : attentionBackwardKeyLaunch;
    this.#run(
      'attentionBackward',
      queryLaunch(args, saved, grads, mw),
      dq.storage.buffer,
      ...inputs,
      ...keyRanges,
    );
    this.#run(
      'attentionBackward',
      keyLaunch(args, saved, grads, mw),
      dk.storage.buffer,
      dv.storage.buffer,
      ...inputs,
      ...queryRanges,
    );
  }

  normBackward(
    x: V,
    weight: V | null,
    g: V,
    eps: number,
    center: boolean,
    dx: V,
    stats: V,
    dw: V | null,
    db: V | null,
  ): void {
    this.#check('normBackward');
    if (sizeOf(dx.shape) === 0) return;
    const mw = this.#maxWorkgroups;
    const rows = normBackwardRowsLaunch(x, weight, g, eps, center, dx, stats, mw, this.#rowLanes());
    const w = weight ? [weight.storage.buffer] : [];
    const rowBuffers = [dx, stats, x, g].map((t) => t.storage.buffer);
    this.#run('normBackward', rows, ...rowBuffers, ...w);
    if (!dw) return;
    const cols = normBackwardColumnsLaunch(x, g, stats, dw, db, mw);
    const d = db ? [db.storage.buffer] : [];
    const colBuffers = [x, g, stats].map((t) => t.storage.buffer);
    this.#run('normBackward', cols, dw.storage.buffer, ...d, ...colBuffers);
  }

  embeddingBackward(g: V, index: V, scratch: V, out: V): void {
    this.#check('embeddingBackward');
    if (sizeOf(g.shape) === 0) return;
    const mw = this.#maxWorkgroups;
    const n = index.shape[0];
    // sort the positions by (id, position) in the two halves of scratch, then sum each id's run
    const half = (i: number): V => ({ ...scratch, shape: [n], strides: [1], offset: scratch.offset + i * n });
    let [src, dst] = [half(0), half(1)];
    const sb = scratch.storage.buffer;
    const ib = index.storage.buffer;
    this.#run('embeddingBackward', embeddingSortBlocksLaunch(index, src, mw), sb, ib);
    for (let width = SORT_BLOCK; width < n; width *= 2) {
      this.#run('embeddingBackward', embeddingMergeLaunch(index, src, dst, width, mw), sb, ib);
      [src, dst] = [dst, src];
    }
    this.#run(
      'embeddingBackward',
      embeddingSumLaunch(g, index, src, out, mw),
      out.storage.buffer,
      g.storage.buffer,
      ib,
      sb,
    );
  }

  adamwUpdate(param: V, grad: V, m: V, v: V, s: AdamWScalars, control?: V): void {
    this.#check('adamwUpdate');
    if (sizeOf(param.shape) === 0) return;
    const launch = adamwUpdateLaunch(param, grad, m, v, s, this.#maxWorkgroups, control);
    this.#run(
      'adamwUpdate',
      launch,
      param.storage.buffer,
      m.storage.buffer,
      v.storage.buffer,
      grad.storage.buffer,
      ...(control ? [control.storage.buffer] : []),
    );
  }

  activationBackward(activation: MatmulActivation, pre: V, gradOut: V, out: V): void {
    this.#check('activationBackward');
    if (sizeOf(out.shape) === 0) return;
    const launch = activationBackwardLaunch(activation, pre, gradOut, out, this.#maxWorkgroups);
    this.#run('activationBackward', launch, out.storage.buffer, pre.storage.buffer, gradOut.storage.buffer);
  }

  /** @internal Test hook: destroys the GPUDevice behind the backend's back, as a driver reset would. */
  debugLoseDevice(): void {
    this.#device.destroy();
  }

  /**
   * @internal Test hook: dispatches hand-written WGSL (binding 0 is an unused uniform block,
   * storages follow) under `op`'s name, to exercise error reporting.
   */
  debugDispatch(
    op: string,
    wgsl: string,
    storages: GpuStorage[],
    grid: [number, number, number],
    params: number[] = [0],
  ): void {
    this.#check(op);
    this.#run(
      op,
      {
        kernel: {
          key: `debug:${op}:${wgsl.length}:${hash(wgsl)}`,
          access: storages.map(() => 'read_write'),
          build: () => wgsl,
        },
        params,
        grid,
      },
      ...storages.map((s) => s.buffer),
    );
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}
