import type { DType, HostArray } from './dtype.js';
import type { Shape } from './shape.js';

/**
 * A strided window onto a backend's storage: what every kernel reads and writes.
 *
 * `strides` and `offset` count elements (not bytes). A stride of 0 repeats an element, which is
 * how broadcasting reaches kernels: the frontend expands operands to the output shape with
 * zero strides, so kernels never implement broadcasting rules themselves.
 */
export interface View<S = unknown> {
  /** The backend-specific storage object (a `GPUBuffer` wrapper, a typed array …). */
  readonly storage: S;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Elementwise functions of one operand. `clamp` reads `min`/`max` from {@link UnaryParams}. */
export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'sin'
  | 'cos'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'gelu'
  | 'gelu_tanh'
  | 'silu'
  | 'square'
  | 'sign'
  | 'reciprocal'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'logical_not'
  | 'clamp';

/** Activations a matmul epilogue can apply (same formulas as the {@link UnaryOp}s of the same names). */
export type MatmulActivation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

/**
 * What a fused matmul applies to each accumulated output before storing it:
 * `out[b, i, j] = activation(acc[b, i, j] + bias[j])`. When `preActivation` is given (a
 * contiguous view shaped like `out`), `acc + bias` is stored there too, which is what a
 * backward pass needs for the activation's derivative.
 */
export interface MatmulEpilogue<S = unknown> {
  /** 1-D [N] (any stride), added per output column; or null. */
  readonly bias: View<S> | null;
  readonly activation: MatmulActivation;
  /** Optional second output: the value before the activation. */
  readonly preActivation: View<S> | null;
}

/** Extra operands of parameterised unary ops (only `clamp` today). */
export interface UnaryParams {
  min?: number;
  max?: number;
}

/** Elementwise functions of two operands. Comparisons and logical ops write `bool`. */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'logical_and'
  | 'logical_or';

/** Reductions. `argmax`/`argmin` write int32 positions within the (flattened) reduced dims. */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';

/** Distributions of the counter-based random generator. */
export type RandomKind = 'uniform' | 'normal' | 'randint';

/**
 * Parameters of a random draw. Element `i` of the output is a pure function of
 * (`seed`, `counter + i`), so a draw is reproducible on a backend whatever else ran before it.
 */
export interface RandomParams {
  kind: RandomKind;
  /** Two 32-bit key words. */
  seed: readonly [number, number];
  /** Position in the stream of the first element. */
  counter: number;
  /** uniform: [low, high); randint: [low, high) integers; normal: mean, std. */
  low?: number;
  high?: number;
  mean?: number;
  std?: number;
}

/**
 * Scalars of one AdamW step, precomputed on the host (see `adamwScalars` in `ops/fused.ts`):
 * m ← beta1·m + oneMinusBeta1·g; v ← beta2·v + oneMinusBeta2·g²;
 * p ← p·decay − (m / (sqrt(v) / sqrtC2 + eps))·stepSize, each operation rounded to the dtype.
 */
export interface AdamWScalars {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  decay: number;
  stepSize: number;
  sqrtC2: number;
  eps: number;
}

/** What a backend reports about itself after initialisation. */
export interface BackendInfo {
  /** `cpu` or `webgpu` (or a contributed backend's name). */
  name: string;
  /** Human-readable device description (adapter vendor/architecture, or the JS engine). */
  device: string;
  /** Optional features in use (`shader-f16`, `subgroups`, `timestamp-query` …). */
  features: string[];
  /** Negotiated limits that matter to users (max binding size …). */
  limits: Record<string, number>;
  /** dtypes this backend stores. */
  dtypes: DType[];
}

/** Pool and allocation counters reported by {@link Backend.memory}. */
export interface BackendMemory {
  /** Bytes held by live storages. */
  allocatedBytes: number;
  /** Bytes held in free pools, ready for reuse. */
  pooledBytes: number;
  /** Count of live storages. */
  liveBuffers: number;
  /** Count of pooled (free) buffers. */
  pooledBuffers: number;
}

/**
 * The contract between `@kiln/tensor`'s frontend and a device. See `docs/backends.md`.
 *
 * Every kernel method *enqueues* work and returns immediately; outputs are views the frontend
 * allocated (contiguous unless stated). Inputs may be any strided view, including zero strides
 * for broadcast dimensions. Only `download` and `sync` wait.
 *
 * Required: memory management, `fill`, `copy`, `unary`, `binary`, `where`, `reduce`, `cumsum`,
 * `matmul`, `gather`, `indexSelect`, `scatterAdd`, `random`, `topk`.
 * Optional fused kernels (the frontend composes primitives when they are missing):
 * `softmax`, `layerNorm`, `rmsNorm`, `crossEntropy`, the training kernels of `ops/fused.ts`:
 * `crossEntropyBackward`, `softmaxBackward`, `normBackward`, `embeddingBackward`, `attention`, `attentionBackward`, `adamw`,
 * and those of `ops/epilogue.ts`: `matmulEpilogue`, `activationBackward`.
 */
export interface Backend<S = any> {
  readonly name: string;
  readonly info: BackendInfo;

  /** Allocates storage for `size` elements of `dtype`. `usage: 'parameter'` asks for the long-lived pool. */
  allocate(dtype: DType, size: number, usage: 'activation' | 'parameter'): S;
  /** Returns storage to the pool. Work already enqueued that reads it still sees its contents. */
  release(storage: S): void;
  /** Writes host data into storage, ordered after all work enqueued so far. */
  upload(storage: S, dtype: DType, data: HostArray): void;
  /** Reads `size` elements of storage back to the host, after all enqueued work finishes. */
  download(storage: S, dtype: DType, size: number): Promise<HostArray>;
  /** Waits for all enqueued work. */
  sync(): Promise<void>;
  /** Pool counters. */
  memory(): BackendMemory;
  /** Releases the device. Tensors on this backend become unusable. */
  destroy(): void;

  /** out[i] = value. */
  fill(out: View<S>, value: number): void;
  /**
   * dst = src elementwise (same shape, any strides on both sides); casts when dtypes differ.
   * `src` and `dst` never share storage (`assign` copies such a source out first).
   */
  copy(src: View<S>, dst: View<S>): void;
  unary(op: UnaryOp, x: View<S>, out: View<S>, params?: UnaryParams): void;
  /** `a` and `b` are already broadcast to `out.shape`. */
  binary(op: BinaryOp, a: View<S>, b: View<S>, out: View<S>): void;
  /** out = cond ? a : b; operands already broadcast to `out.shape`. */
  where(cond: View<S>, a: View<S>, b: View<S>, out: View<S>): void;
  /**
   * Reduces the last `reducedDims` dimensions of `x`; `out` holds the leading dimensions
   * (contiguous). The frontend permutes reduced axes to the end first.
   */
  reduce(op: ReduceOp, x: View<S>, reducedDims: number, out: View<S>): void;
  /** Inclusive prefix sum along the last dimension; `out` contiguous with `x.shape`. */
  cumsum(x: View<S>, out: View<S>): void;
  /**
   * Batched matrix product: `a` is [B, M, K], `b` is [B, K, N], `out` is [B, M, N] contiguous.
   * Batch strides may be 0 (broadcast); transposed operands arrive as strided views, read in place.
   */
  matmul(a: View<S>, b: View<S>, out: View<S>): void;
  /** out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis` (index has out's shape; int32). */
  gather(x: View<S>, axis: number, index: View<S>, out: View<S>): void;
  /** out = x with `axis` replaced by the 1-D int32 `index` (embedding lookup is axis 0). */
  indexSelect(x: View<S>, axis: number, index: View<S>, out: View<S>): void;
  /** In place: out[..., index[..., i, ...], ...] += src[..., i, ...] along `axis` (out contiguous). */
  scatterAdd(out: View<S>, axis: number, index: View<S>, src: View<S>): void;
  /** Fills `out` (contiguous) with counter-based random numbers. */
  random(out: View<S>, params: RandomParams): void;
  /** The `k` largest (or smallest) along the last dimension, sorted; indices int32. */
  topk(x: View<S>, k: number, largest: boolean, values: View<S>, indices: View<S>): void;

  /** Softmax (or log-softmax) over the last dimension of contiguous rows. */
  softmax?(x: View<S>, out: View<S>, log: boolean): void;
  /** LayerNorm over the last dimension; weight/bias are 1-D or null. */
  layerNorm?(x: View<S>, weight: View<S> | null, bias: View<S> | null, eps: number, out: View<S>): void;
  /** RMSNorm over the last dimension; weight is 1-D or null. */
  rmsNorm?(x: View<S>, weight: View<S> | null, eps: number, out: View<S>): void;
  /** Per-row cross-entropy of logits [N, C] against int32 targets [N]; ignored rows give 0. */
  crossEntropy?(logits: View<S>, targets: View<S>, ignoreIndex: number, out: View<S>): void;

  /**
   * Gradient of per-row cross-entropy: out[r, c] = (softmax(logits[r])[c] − [c = targets[r]]) ·
   * scale[r], and 0 on rows whose target is `ignoreIndex`. logits/out contiguous [N, C]; `scale`
   * is [N] with any stride (0 broadcasts one upstream gradient).
   */
  crossEntropyBackward?(
    logits: View<S>,
    targets: View<S>,
    scale: View<S>,
    ignoreIndex: number,
    out: View<S>,
  ): void;
  /** Softmax backward over contiguous rows: y·(g − Σ g·y), or with `log` g − exp(y)·Σ g. */
  softmaxBackward?(y: View<S>, g: View<S>, log: boolean, out: View<S>): void;
  /**
   * Attention forward on contiguous q [B, H, Tq, D], k and v [B, Hkv, Tk, D] (Hkv divides H;
   * query head h reads kv head ⌊h·Hkv/H⌋): out = softmax(scale·q·kᵀ, masked when `causal` to
   * keys j ≤ i + Tk − Tq)·v, and lse [B, H, Tq] = log Σ_j exp(scale·q_i·k_j). Must not need
   * memory proportional to Tq·Tk.
   */
  attention?(
    q: View<S>,
    k: View<S>,
    v: View<S>,
    causal: boolean,
    scale: number,
    out: View<S>,
    lse: View<S>,
  ): void;
  /**
   * Attention backward from contiguous q, k, v, lse (the forward's), delta [B, H, Tq] =
   * Σ_d gradOut·out, and gradOut: writes dq, dk, dv (contiguous, shaped like q, k, v).
   */
  attentionBackward?(
    q: View<S>,
    k: View<S>,
    v: View<S>,
    lse: View<S>,
    delta: View<S>,
    gradOut: View<S>,
    causal: boolean,
    scale: number,
    dq: View<S>,
    dk: View<S>,
    dv: View<S>,
  ): void;
  /**
   * LayerNorm (`center`) or RMSNorm backward over contiguous rows of x and g: writes dx, the
   * per-row mean and 1/std into `stats` (float32 [N, 2] scratch), and when given the column sums
   * dw = Σ_rows g·x̂ and db = Σ_rows g. `weight` is 1-D with any stride, or null.
   */
  normBackward?(
    x: View<S>,
    weight: View<S> | null,
    g: View<S>,
    eps: number,
    center: boolean,
    dx: View<S>,
    stats: View<S>,
    dw: View<S> | null,
    db: View<S> | null,
  ): void;
  /**
   * Embedding backward: out [V, D] (contiguous, zero-filled by the caller) gets, in each row id,
   * Σ g[i] over the positions i with index[i] = id; g [N, D] and index [N] (int32) contiguous;
   * `scratch` is int32 [2N] working memory. Deterministic: sums in position order.
   */
  embeddingBackward?(g: View<S>, index: View<S>, scratch: View<S>, out: View<S>): void;
  /** One AdamW step in place on contiguous `param`, `m`, `v` of one shape, from contiguous `grad`. */
  adamw?(param: View<S>, grad: View<S>, m: View<S>, v: View<S>, s: AdamWScalars): void;
  /**
   * {@link Backend.matmul} with an epilogue applied before the store:
   * `out[b, i, j] = activation(acc[b, i, j] + bias[j])`, and `preActivation[b, i, j] = acc + bias`
   * when that view is given (see {@link MatmulEpilogue}). Operands as for `matmul` (`a` [B, M, K],
   * `b` [B, K, N], strided, batch strides may be 0); `out` and `preActivation` contiguous
   * [B, M, N]. Results must match `matmul`, then `binary('add')` with the bias broadcast along
   * rows, then `unary(activation)`, each rounded to the dtype, within float tolerance.
   */
  matmulEpilogue?(a: View<S>, b: View<S>, out: View<S>, epilogue: MatmulEpilogue<S>): void;
  /**
   * Gradient through an activation from its input: `out = gradOut · activation'(pre)` (for
   * `relu`, gradOut where pre > 0, else 0; for `none`, gradOut). `pre`, `gradOut` and `out` are
   * contiguous views of one shape and dtype.
   */
  activationBackward?(activation: MatmulActivation, pre: View<S>, gradOut: View<S>, out: View<S>): void;
}
