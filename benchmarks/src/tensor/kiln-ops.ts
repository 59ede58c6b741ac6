// The tensor-suite workloads written with Kiln (@kiln/tensor ops, @kiln/autograd, @kiln/trainer's
// AdamW). Each builder allocates its inputs once and returns `run`, which enqueues `reps` ops back
// to back and resolves when one element of the last result has been read back: Kiln has a
// single queue, so that readback finishes only after everything enqueued before it.
import { noGrad, Parameter, valueAndGrad } from '@kiln/autograd';
import * as kilnTensor from '@kiln/tensor';
import { full, layerNorm as layerNormOp, ones, randn, scope, type Tensor, triu, zeros } from '@kiln/tensor';
import { AdamW } from '@kiln/trainer';
import { ADAMW, ATTENTION, COPY_SHAPE, MASKED_ATTENTION, OVERHEAD_CHAIN, ROWS_SHAPE } from './workloads.js';

/** Reads back one element of `t` (a 1-element copy and a 4-byte download). */
export async function readOne(t: Tensor): Promise<void> {
  await scope(async () => {
    await t.flatten().narrow(0, 0, 1).data();
  });
}

function disposeAll(...tensors: Tensor[]): void {
  for (const t of tensors) t.dispose();
}

/** A prepared workload: `run()` does one timed sample; `dispose()` frees its inputs. */
export interface Prepared {
  run(): Promise<void>;
  dispose(): void;
}

/** Enqueues `reps` results of `op` (each freed when the next exists), then reads the last back. */
function repeat(op: () => Tensor, reps: number): () => Promise<void> {
  return async () => {
    let last: Tensor | null = null;
    for (let i = 0; i < reps; i++) {
      last?.dispose();
      last = op();
    }
    await readOne(last!);
    last!.dispose();
  };
}

/** `reps` products of two random n×n matrices; `inputs` gives their values (for a reference run). */
export function matmul(
  n: number,
  reps: number,
): Prepared & { inputs: [Promise<Float32Array>, Promise<Float32Array>] } {
  const a = randn([n, n]);
  const b = randn([n, n]);
  return {
    run: repeat(() => a.matmul(b), reps),
    dispose: () => disposeAll(a, b),
    inputs: [a.data() as Promise<Float32Array>, b.data() as Promise<Float32Array>],
  };
}

export function softmax(reps: number): Prepared {
  const x = randn([...ROWS_SHAPE]);
  return { run: repeat(() => x.softmax(-1), reps), dispose: () => x.dispose() };
}

export function add(reps: number): Prepared {
  const x = randn([...ROWS_SHAPE]);
  const y = randn([...ROWS_SHAPE]);
  return { run: repeat(() => x.add(y), reps), dispose: () => disposeAll(x, y) };
}

export function layerNorm(reps: number): Prepared {
  const n = ROWS_SHAPE[1];
  const x = randn([...ROWS_SHAPE]);
  const weight = randn([n]);
  const bias = randn([n]);
  return {
    run: repeat(() => layerNormOp(x, weight, bias, { eps: 1e-5 }), reps),
    dispose: () => disposeAll(x, weight, bias),
  };
}

/**
 * Causal attention, forward and the gradients w.r.t. q, k and v, through autograd. The scalar
 * being differentiated is Σ(out · dOut) for a fixed random dOut, i.e. backward starts from dOut.
 */
export function attention(): Prepared {
  const { B, H, T, D } = ATTENTION;
  const q = randn([B, H, T, D]);
  const k = randn([B, H, T, D]);
  const v = randn([B, H, T, D]);
  const dOut = randn([B, H, T, D]);
  // -1e9 above the diagonal: masked scores vanish in the softmax (same constant in TF.js)
  const mask = scope(() => triu(full([T, T], -1e9), 1));
  const scale = 1 / Math.sqrt(D);
  const loss = (qq: Tensor, kk: Tensor, vv: Tensor) =>
    qq.matmul(kk.transpose(-2, -1)).mul(scale).add(mask).softmax(-1).matmul(vv).mul(dOut).sum();
  const step = valueAndGrad(loss, { argnums: [0, 1, 2] });
  return {
    run: async () => {
      const [value, grads] = step(q, k, v);
      await readOne(grads[0]);
      value.dispose();
      disposeAll(...grads);
    },
    dispose: () => disposeAll(q, k, v, dOut, mask),
  };
}

// Fused ops that @kiln/tensor is gaining while these benchmarks are written: looked up at run
// time, so the suite runs (and says "not available") at revisions without them.
/** What `attentionMask` returns: the causal flag and the visible ranges (opaque here). */
interface Mask {
  causal: boolean;
  ranges: { keys: Tensor; queries: Tensor } | null;
}
type Sdpa = (
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: { causal?: boolean; scale?: number; mask?: Mask },
) => Tensor;
type AttentionMaskOp = (options: { causal?: boolean; segments?: Tensor; padding?: Tensor }) => Mask;
type AdamWUpdate = (
  params: Tensor[],
  grads: Tensor[],
  m: Tensor[],
  v: Tensor[],
  hyper: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number },
) => void;
// `attention` was called scaledDotProductAttention before the seams change
const fused = kilnTensor as unknown as {
  attention?: Sdpa;
  attentionMask?: AttentionMaskOp;
  scaledDotProductAttention?: Sdpa;
  adamwUpdate?: AdamWUpdate;
};

/** The same attention through the fused `attention` op (and its autograd rule), or null. */
export function fusedAttention(): Prepared | null {
  const sdpa = fused.attention ?? fused.scaledDotProductAttention;
  if (!sdpa) return null;
  const { B, H, T, D } = ATTENTION;
  const [q, k, v, dOut] = [0, 1, 2, 3].map(() => randn([B, H, T, D]));
  const loss = (qq: Tensor, kk: Tensor, vv: Tensor) =>
    sdpa(qq, kk, vv, { causal: true, scale: 1 / Math.sqrt(D) })
      .mul(dOut)
      .sum();
  const step = valueAndGrad(loss, { argnums: [0, 1, 2] });
  return {
    run: async () => {
      const [value, grads] = step(q, k, v);
      await readOne(grads[0]);
      disposeAll(value, ...grads);
    },
    dispose: () => disposeAll(q, k, v, dOut),
  };
}

/** Forward + backward of the fused attention at ATTENTION's shape under `mask` (none: causal). */
function maskedStep(sdpa: Sdpa, mask: Mask | null): Prepared {
  const { B, H, T, D } = ATTENTION;
  const [q, k, v, dOut] = [0, 1, 2, 3].map(() => randn([B, H, T, D]));
  const options = mask ? { mask, scale: 1 / Math.sqrt(D) } : { causal: true, scale: 1 / Math.sqrt(D) };
  const loss = (qq: Tensor, kk: Tensor, vv: Tensor) => sdpa(qq, kk, vv, options).mul(dOut).sum();
  const step = valueAndGrad(loss, { argnums: [0, 1, 2] });
  return {
    run: async () => {
      const [value, grads] = step(q, k, v);
      await readOne(grads[0]);
      disposeAll(value, ...grads);
    },
    dispose: () => {
      disposeAll(q, k, v, dOut);
      if (mask?.ranges) disposeAll(mask.ranges.keys, mask.ranges.queries);
    },
  };
}

/**
 * The fused attention on one shape under four masks, or null at revisions without masks:
 * causal (index-only), the same causal mask as visible ranges (one document per row: the cost
 * of the mask itself), rows packed with MASKED_ATTENTION.documents equal documents, and a batch
 * with MASKED_ATTENTION.padding of each row padded (left on even rows, right on odd). Masks are
 * built once, as a model builds them once per forward pass for every layer; `mask` times that.
 */
export function maskedAttention(): Record<
  'causal' | 'ranges' | 'packed' | 'padded' | 'mask',
  Prepared
> | null {
  const sdpa = fused.attention;
  const attentionMask = fused.attentionMask;
  if (!sdpa || !attentionMask) return null;
  const { B, T, documents, padding } = MASKED_ATTENTION;
  const ids = (f: (b: number, t: number) => number) =>
    kilnTensor.tensor(
      Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => f(b, t))),
      { dtype: 'int32' },
    );
  const pads = Math.round(T * padding);
  const isPad = (b: number, t: number) => (b % 2 === 0 ? t < pads : t >= T - pads);
  const build = (f: (b: number, t: number) => number, pad: boolean) =>
    scope(() => {
      const segments = ids(f);
      return pad
        ? attentionMask({ causal: true, padding: segments.ne(0) })
        : attentionMask({ causal: true, segments });
    });
  const oneDocument = build(() => 0, false);
  const packed = build((_, t) => Math.floor((t * documents) / T), false);
  const padded = build((b, t) => (isPad(b, t) ? 1 : 0), true);
  const segments = ids((_, t) => Math.floor((t * documents) / T));
  return {
    causal: maskedStep(sdpa, null),
    ranges: maskedStep(sdpa, oneDocument),
    packed: maskedStep(sdpa, packed),
    padded: maskedStep(sdpa, padded),
    mask: {
      run: async () => {
        const mask = attentionMask({ causal: true, segments });
        await readOne(mask.ranges!.queries);
        disposeAll(mask.ranges!.keys, mask.ranges!.queries);
      },
      dispose: () => segments.dispose(),
    },
  };
}

/** The fused multi-tensor `adamwUpdate` op on the same 10 × 1M tensors, or null. */
export function fusedAdamW(): Prepared | null {
  const update = fused.adamwUpdate;
  if (!update) return null;
  const shape = [...ADAMW.shape];
  const make = (f: () => Tensor) => Array.from({ length: ADAMW.tensors }, f);
  const params = make(() => randn(shape));
  const grads = make(() => randn(shape, { std: 0.01 }));
  const m = make(() => zeros(shape));
  const v = make(() => zeros(shape));
  let step = 0;
  return {
    run: async () => {
      step++;
      noGrad(() =>
        update(params, grads, m, v, { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step }),
      );
      await readOne(params[params.length - 1]);
    },
    dispose: () => disposeAll(...params, ...grads, ...m, ...v),
  };
}

/** One AdamW step of @kiln/trainer over 10 parameters of 1M elements with fixed gradients. */
export function adamw(): Prepared {
  const params = Array.from({ length: ADAMW.tensors }, () => new Parameter(randn([...ADAMW.shape])));
  for (const p of params) p.grad = randn([...ADAMW.shape], { std: 0.01 });
  const opt = new AdamW(params, { lr: 1e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
  return {
    run: async () => {
      opt.step();
      await readOne(params[params.length - 1]);
    },
    dispose: () => {
      opt.dispose();
      disposeAll(...params);
    },
  };
}

/** Plain copy (assign into an existing tensor) and transposed copy (`T.contiguous()`). */
export function copies(reps: number): { plain: Prepared; transposed: Prepared } {
  const src = randn([...COPY_SHAPE]);
  const dst = zeros([...COPY_SHAPE]);
  return {
    plain: {
      run: async () => {
        for (let i = 0; i < reps; i++) dst.assign(src);
        await readOne(dst);
      },
      dispose: () => {},
    },
    transposed: {
      run: repeat(() => src.T.contiguous(), reps),
      dispose: () => disposeAll(src, dst),
    },
  };
}

/**
 * Fixed costs: a readback round trip after one tiny op, and a chain of OVERHEAD_CHAIN tiny
 * dependent ops then one readback. 4096 elements, so the work itself is negligible.
 */
export function overhead(): { roundTrip: Prepared; chain: Prepared } {
  const x = zeros([4096]);
  const one = ones([4096]);
  return {
    roundTrip: { run: repeat(() => x.add(one), 1), dispose: () => {} },
    chain: {
      run: async () => {
        let y = x.add(one);
        for (let i = 1; i < OVERHEAD_CHAIN; i++) {
          const next = y.add(one);
          y.dispose();
          y = next;
        }
        await readOne(y);
        y.dispose();
      },
      dispose: () => disposeAll(x, one),
    },
  };
}
