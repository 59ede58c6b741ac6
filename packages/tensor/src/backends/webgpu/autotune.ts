/**
 * Picks the matmul kernel variant per shape class and adapter, by measuring.
 *
 * A shape class is dtype + rounded log2 sizes (M, N, K, batch) + which operands are transposed,
 * broadcast or 4-aligned, keyed by the adapter, so one measurement serves every product of
 * similar shape. The first product of a class big enough to be worth it runs with the heuristic
 * choice and queues the class; at the next readback or sync (an await point, after the user's
 * work finished) the backend calls {@link MatmulAutotune.tunePending}, which times every
 * applicable variant on scratch buffers of the class's representative shape and caches the
 * ranking in memory for the life of the backend. Later products of the class take the fastest
 * variant that applies to their operands.
 *
 * Rankings persist across processes (autotune-cache.ts): {@link MatmulAutotune.restore} reads
 * the ones stored for this adapter and driver when the backend opens, and every tuning run writes
 * them back, so a class is measured once per machine. The first tuning run of a process prints
 * one line saying what is measured, about how long it takes and where the results go.
 *
 * Environment: `KILN_MATMUL_VARIANT=<name>` forces a variant wherever it applies (tests, sweeps);
 * `KILN_MATMUL_AUTOTUNE=0` keeps the heuristic choice and never measures;
 * `KILN_AUTOTUNE_CACHE=<dir>` moves the stored results (`0`: keep them in memory only).
 */
import type { View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { contiguousStrides } from '../../shape.js';
import { autotuneCacheDir, loadRankings, saveRankings } from './autotune-cache.js';
import { BufferUsage } from './constants.js';
import { envVar } from './env.js';
import type { Executor } from './executor.js';
import {
  isMatmulVariant,
  MATMUL_VARIANTS,
  type MatmulVariant,
  matmulVariantApplies,
  matmulVariantLaunches,
} from './kernels/matmul.js';
import { GpuStorage } from './storage.js';

/** Products below this many flops keep the heuristic choice (measuring would cost more than it saves). */
const MIN_TUNE_FLOPS = 2 ** 25;
/** The representative shape of a class is capped per dimension, so a tuning run stays short. */
const MAX_TUNE_DIM = 512;
/** Each timing covers at least this much work (small classes repeat the product). */
const MIN_TIMED_FLOPS = 1e8;
/** A variant whose first timing is this much slower than the best so far is not timed again. */
const GIVE_UP_FACTOR = 3;

/** What a tuning run needs to rebuild a class's operands on scratch buffers. */
interface Problem {
  dtype: DType;
  batches: number;
  m: number;
  n: number;
  k: number;
  aTransposed: boolean;
  bTransposed: boolean;
  bBroadcast: boolean;
}

const bucket = (x: number) => Math.round(Math.log2(Math.max(1, x)));

/** Seconds one shape class takes to tune before any has been measured in this process (lavapipe: 2–5 s). */
const GUESS_SECONDS_PER_CLASS = { software: 4, gpu: 0.5 };
/** Whether this process has said that tuning is running (once, whichever backend tunes first). */
let announced = false;

/** The adapter kinds whose workgroups run as SIMD lanes on CPU threads. */
export function isSoftwareAdapter(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

export class MatmulAutotune {
  readonly #adapter: string;
  readonly #software: boolean;
  readonly #subgroups: boolean;
  readonly #maxWorkgroups: number;
  readonly #enabled: boolean;
  /** Variants of each tuned class, fastest first, with their measured ms. */
  readonly #rankings = new Map<string, { variant: MatmulVariant; ms: number }[]>();
  readonly #pending = new Map<string, Problem>();
  /** Measured seconds per tuned class in this backend, to estimate the next run. */
  #secondsPerClass: number | undefined;

  constructor(adapter: string, subgroups: boolean, maxWorkgroups: number) {
    this.#adapter = adapter;
    this.#software = isSoftwareAdapter(adapter);
    this.#subgroups = subgroups;
    this.#maxWorkgroups = maxWorkgroups;
    this.#enabled = envVar('KILN_MATMUL_AUTOTUNE') !== '0';
  }

  /**
   * The key the stored rankings are filed under: the adapter (vendor, architecture, device and
   * the description that names the driver and its version), what the variants depend on, and
   * the variant set itself, so new kernels or another driver tune afresh.
   */
  get cacheKey(): string {
    return `${this.#adapter}|subgroups=${this.#subgroups}|maxWorkgroups=${this.#maxWorkgroups}|${MATMUL_VARIANTS.join(',')}`;
  }

  /** Adopts the rankings stored for this adapter by earlier processes (see autotune-cache.ts). */
  async restore(): Promise<number> {
    if (!this.#enabled) return 0;
    const stored = await loadRankings(this.cacheKey);
    let restored = 0;
    for (const [key, ranking] of Object.entries(stored)) {
      if (!key.startsWith(`${this.#adapter}|`) || !Array.isArray(ranking)) continue;
      const known = ranking.filter((r) => isMatmulVariant(r.variant) && Number.isFinite(r.ms));
      if (known.length === 0) continue;
      this.#rankings.set(key, known as { variant: MatmulVariant; ms: number }[]);
      restored++;
    }
    return restored;
  }

  /** Does `variant` handle these operands on this device? */
  applies(variant: MatmulVariant, a: View, b: View): boolean {
    return matmulVariantApplies(variant, a, b, this.#maxWorkgroups, this.#subgroups);
  }

  /** The class key of `a` [B,M,K] @ `b` [B,K,N]. */
  key(a: View, b: View): string {
    const [batches, m, k] = a.shape;
    const n = b.shape[2];
    const t = (v: View) => (v.strides[2] === 1 ? 'n' : 't');
    const aligned = b.strides[2] === 1 && n % 4 === 0 && b.strides[1] % 4 === 0 ? 'a' : 'u';
    return `${this.#adapter}|${a.dtype}|b${bucket(batches)}${b.strides[0] === 0 ? 'x' : ''}|m${bucket(m)}n${bucket(n)}k${bucket(k)}|${t(a)}${t(b)}${aligned}`;
  }

  /** The variant for these operands: forced, else tuned, else the heuristic (queuing a tuning run). */
  choose(a: View, b: View): MatmulVariant {
    const forced = envVar('KILN_MATMUL_VARIANT');
    if (forced && isMatmulVariant(forced) && this.applies(forced, a, b)) return forced;
    const key = this.key(a, b);
    const ranking = this.#rankings.get(key);
    if (ranking) {
      for (const r of ranking) if (this.applies(r.variant, a, b)) return r.variant;
    } else if (this.#enabled && !this.#pending.has(key)) {
      const [batches, m, k] = a.shape;
      const n = b.shape[2];
      if (2 * batches * m * n * k >= MIN_TUNE_FLOPS) {
        this.#pending.set(key, {
          dtype: a.dtype,
          batches: Math.min(batches, 8),
          m: Math.min(m, MAX_TUNE_DIM),
          n: Math.min(n, MAX_TUNE_DIM),
          k: Math.min(k, 4 * MAX_TUNE_DIM),
          aTransposed: a.strides[2] !== 1,
          bTransposed: b.strides[2] !== 1,
          bBroadcast: b.strides[0] === 0,
        });
      }
    }
    return this.heuristic(a, b);
  }

  /**
   * The choice without measurements. Software adapters: the subgroup row-vec kernel where K and
   * the operands are 4-aligned, else the subgroup band (A shared by
   * broadcast, no barriers; 12 rows × 2 columns per lane where the output is wide enough) or the
   * plain band; GPUs: register-blocked tiles. Matrix-vector
   * products with N = 1 and tiny outputs with a long K: lanes split K.
   */
  heuristic(a: View, b: View): MatmulVariant {
    const [, m, k] = a.shape;
    const n = b.shape[2];
    if ((n === 1 || m * n <= 256) && k >= 256 && this.applies('splitk', a, b)) return 'splitk';
    if (this.#software) {
      if (this.#subgroups) {
        // vec4 operands both ways: the row-vec kernel (16 rows per lane; 8 for short outputs)
        if (this.applies('sgrowv16', a, b)) return m >= 16 ? 'sgrowv16' : 'sgrowv8';
        // 12 rows × 2 columns per lane needs enough rows and more than one 64-lane column set
        if (m >= 12 && n > 64) return 'sgband12x2';
        return m >= 16 ? 'sgband16' : 'sgband8';
      }
      return 'band8x1';
    }
    return m <= 32 || n <= 32 ? 'tiled32' : 'tiled64';
  }

  /** Classes waiting for a tuning run. */
  get pending(): number {
    return this.#pending.size;
  }

  /** The measured ranking of every tuned class (diagnostics, benchmarks). */
  rankings(): Record<string, { variant: MatmulVariant; ms: number }[]> {
    return Object.fromEntries(this.#rankings);
  }

  /**
   * Times every applicable variant on each queued class and caches the rankings. Uses its own
   * scratch buffers (zeros: no denormals, same speed as data) and submits through `exec`.
   */
  async tunePending(device: GPUDevice, exec: Executor): Promise<void> {
    const problems = [...this.#pending];
    this.#pending.clear();
    if (problems.length === 0) return;
    await this.#announce(problems.length);
    const start = performance.now();
    for (const [key, problem] of problems) {
      this.#rankings.set(key, await this.#measure(device, exec, problem));
    }
    this.#secondsPerClass = (performance.now() - start) / 1000 / problems.length;
    await saveRankings(this.cacheKey, this.rankings());
  }

  /** Says once per process that tuning runs, about how long it takes, and how to keep or skip it. */
  async #announce(classes: number): Promise<void> {
    if (announced) return;
    announced = true;
    const perClass = this.#secondsPerClass ?? GUESS_SECONDS_PER_CLASS[this.#software ? 'software' : 'gpu'];
    const dir = await autotuneCacheDir();
    console.warn(
      `[kiln] tuning matmul kernels for ${this.#adapter}: ${classes} shape class${classes === 1 ? '' : 'es'} now, ` +
        `about ${Math.max(1, Math.round(classes * perClass))} s (new shapes later add a few seconds each). ` +
        (dir
          ? `Results are kept in ${dir} (delete it to re-tune; KILN_AUTOTUNE_CACHE=<dir> moves it), so this runs once per adapter and driver. `
          : 'Results are kept in memory only (KILN_AUTOTUNE_CACHE=0 or a browser). ') +
        'KILN_MATMUL_AUTOTUNE=0 skips tuning.',
    );
  }

  async #measure(
    device: GPUDevice,
    exec: Executor,
    p: Problem,
  ): Promise<{ variant: MatmulVariant; ms: number }[]> {
    const item = p.dtype === 'float16' ? 2 : 4;
    const make = (elements: number) =>
      device.createBuffer({
        size: Math.max(16, Math.ceil((elements * item) / 16) * 16),
        usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
        label: 'kiln matmul autotune',
      });
    const { batches, m, n, k, dtype } = p;
    const aBuf = make(batches * m * k);
    const bBuf = make((p.bBroadcast ? 1 : batches) * k * n);
    const outBuf = make(batches * m * n);
    const view = (
      buf: GPUBuffer,
      rows: number,
      cols: number,
      transposed: boolean,
      broadcast: boolean,
    ): View => {
      const storage = new GpuStorage(buf, dtype, 0, buf.size, 'activation');
      const strides = transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1];
      if (broadcast) strides[0] = 0;
      return { storage, dtype, shape: [batches, rows, cols], strides, offset: 0 };
    };
    const a = view(aBuf, m, k, p.aTransposed, false);
    const b = view(bBuf, k, n, p.bTransposed, p.bBroadcast);
    const out: View = {
      storage: new GpuStorage(outBuf, dtype, 0, outBuf.size, 'activation'),
      dtype,
      shape: [batches, m, n],
      strides: contiguousStrides([batches, m, n]),
      offset: 0,
    };
    // small classes repeat the product in one submit, so the ~1 ms submit + wait is not what we time
    const reps = Math.max(1, Math.ceil(MIN_TIMED_FLOPS / (2 * batches * m * n * k)));
    const run = async (variant: MatmulVariant, times: number): Promise<number> => {
      const start = performance.now();
      for (let r = 0; r < times; r++) {
        for (const launch of matmulVariantLaunches(variant, a, b, out, this.#maxWorkgroups)) {
          exec.dispatch('matmul autotune', launch, [outBuf, aBuf, bBuf]);
        }
      }
      await exec.idle({ paced: false }); // a sleep would be timed too
      return (performance.now() - start) / times;
    };
    const results: { variant: MatmulVariant; ms: number }[] = [];
    try {
      await exec.idle({ paced: false });
      let best = Number.POSITIVE_INFINITY;
      for (const variant of MATMUL_VARIANTS) {
        if (!this.applies(variant, a, b)) continue;
        // one workgroup per output is hopeless for big outputs: don't spend seconds proving it
        if (variant === 'splitk' && m * n > 4096) continue;
        await run(variant, 1); // compiles the pipeline: not timed
        let ms = await run(variant, reps);
        // a clear loser is timed once; contenders twice (best of two: the machine may be shared)
        if (ms < GIVE_UP_FACTOR * best) ms = Math.min(ms, await run(variant, reps));
        best = Math.min(best, ms);
        results.push({ variant, ms });
      }
    } finally {
      exec.destroyAfterSubmit(aBuf);
      exec.destroyAfterSubmit(bBuf);
      exec.destroyAfterSubmit(outBuf);
    }
    return results.sort((x, y) => x.ms - y.ms);
  }
}
