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
  | 'geluTanh'
  | 'silu'
  | 'square'
  | 'sign'
  | 'reciprocal'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'logicalNot'
  | 'clamp';

/** Activations a matmul epilogue can apply: each applies the formula of the {@link UnaryOp} of the same name. */
export type MatmulActivation = 'none' | Extract<UnaryOp, 'relu' | 'gelu' | 'geluTanh' | 'silu'>;

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
  | 'logicalAnd'
  | 'logicalOr';

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
 * Scalars of one AdamW step, precomputed on the host (see `adamwScalars` in `ops/adamw-update.ts`):
 * m ← beta1·m + oneMinusBeta1·g; v ← beta2·v + oneMinusBeta2·g²;
 * p ← p·decay − (m / (sqrt(v) / sqrtC2 + eps))·stepSize, each operation rounded to the dtype.
 */
export interface AdamWScalars {
  /** The learning rate (with a control tensor the device may compute stepSize from it). */
  lr: number;
  /** The 1-based step count stepSize and sqrtC2 are for. */
  step: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  decay: number;
  stepSize: number;
  sqrtC2: number;
  eps: number;
}

/**
 * Which keys each query of an attention sees. Queries are the last Tq of the Tk key positions
 * (bottom-right aligned, as with a KV cache): query i sits at key position i + Tk − Tq.
 */
export interface AttentionMask<T> {
  /**
   * Query i sees keys j ≤ i + Tk − Tq. Kernels apply it only when `ranges` is null; ranges
   * already include it.
   */
  readonly causal: boolean;
  /** Visible ranges per batch row (shared by every head), or null: every key, subject to `causal`. */
  readonly ranges: AttentionRanges<T> | null;
}

/**
 * One visibility relation seen from both sides, as kernels want it: each query sees a
 * contiguous run of keys, and each key is seen by a contiguous run of queries (query-side
 * kernels loop over the first, key-side kernels over the second). Causal masks, documents
 * packed in a row and padding all have this shape; `attentionMask` in `ops/attention.ts` builds
 * both sides so they always describe the same relation.
 */
export interface AttentionRanges<T> {
  /** int32 [B, Tq, 2], contiguous: query i of row b sees the keys j with keys[b,i,0] ≤ j < keys[b,i,1]. */
  readonly keys: T;
  /** int32 [B, Tk, 2], contiguous: key j of row b is seen by the queries i with queries[b,j,0] ≤ i < queries[b,j,1]. */
  readonly queries: T;
}

/**
 * The operands of attention, one record from a model's attention layer down to the kernels:
 * q [B, H, Tq, D] and k, v [B, Hkv, Tk, D] (Hkv divides H; query head h reads kv head
 * ⌊h·Hkv/H⌋), contiguous when they reach a backend; the factor applied to q·k; the mask.
 */
export interface AttentionArgs<T> {
  readonly q: T;
  readonly k: T;
  readonly v: T;
  readonly scale: number;
  readonly mask: AttentionMask<T>;
}

/** What attention's backward reads besides its arguments: the forward's lse, delta = Σ_d gradOut·out, and gradOut. */
export interface AttentionSaved<T> {
  readonly lse: T;
  readonly delta: T;
  readonly gradOut: T;
}

/** Where attention's backward writes: gradients shaped like q, k and v. */
export interface AttentionGrads<T> {
  readonly dq: T;
  readonly dk: T;
  readonly dv: T;
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
 * `matmul`, `gather`, `indexSelect`, `scatterAdd`, `random`, `topk`, and the mixture-of-experts
 * kernels `groupedMatmul`, `groupedOuter` (`ops/grouped-matmul.ts`), `dispatchRows`,
 * `combineRows`, `slotDots` (`ops/slot-rows.ts`).
 * Optional fused kernels (the frontend composes primitives when they are missing):
 * `softmax`, `layerNorm`, `rmsNorm`, `crossEntropy` (`ops/nn.ts`), the training kernels
 * `crossEntropyBackward`, `softmaxBackward`, `normBackward`, `embeddingBackward`, `adamwUpdate`
 * (`ops/<name>.ts`), `attention`, `attentionBackward` (`ops/attention.ts`), and those of
 * `ops/epilogue.ts`: `matmulEpilogue`, `activationBackward`. A method that serves one op has the
 * op's name; `unary`, `binary`, `reduce`, `softmax` (softmax and logSoftmax) and `normBackward`
 * (layerNormBackward and rmsNormBackward) serve several, chosen by an argument.
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

  /**
   * Grouped product over rows sorted by group: out[r] = x[r] @ w[e] for the rows r of group e,
   * which are [ends[e−1], ends[e]) (ends[−1] = 0). `x` [R, K] contiguous; `w` [E, K, M] any
   * strides (a transposed view of per-expert `nn.Linear` weights is read in place); `ends` int32
   * [E] contiguous, non-decreasing; `out` [R, M] contiguous. Rows past ends[E−1] are zero.
   */
  groupedMatmul(x: View<S>, w: View<S>, ends: View<S>, out: View<S>): void;
  /**
   * The weight gradient of {@link Backend.groupedMatmul}: out[e] = x[rows of e]ᵀ @ y[rows of e];
   * `x` [R, K], `y` [R, M], `ends` int32 [E], `out` [E, K, M], all contiguous. An empty group
   * gives zeros.
   */
  groupedOuter(x: View<S>, y: View<S>, ends: View<S>, out: View<S>): void;
  /**
   * out[slots[n, j]] = gates[n, j]·x[n] (gates null: 1); rows no pair names are zero, slot −1 is
   * skipped. `x` [N, D], `slots` int32 [N, k], `gates` [N, k], `out` [R, D], all contiguous.
   * Slots other than −1 are distinct (the frontend documents it; the CPU sums repeats).
   */
  dispatchRows(x: View<S>, slots: View<S>, gates: View<S> | null, out: View<S>): void;
  /**
   * out[n] = Σ_j gates[n, j]·y[slots[n, j]] (gates null: 1); slot −1 adds nothing. `y` [R, D],
   * `slots` int32 [N, k], `gates` [N, k], `out` [N, D], all contiguous.
   */
  combineRows(y: View<S>, slots: View<S>, gates: View<S> | null, out: View<S>): void;
  /**
   * out[n, j] = Σ_c x[n, c]·y[slots[n, j], c], 0 for slot −1 (the gate gradient of the two ops
   * above). `x` [N, D], `y` [R, D], `slots` int32 [N, k], `out` [N, k], all contiguous.
   */
  slotDots(x: View<S>, y: View<S>, slots: View<S>, out: View<S>): void;

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
   * Attention forward (see {@link AttentionArgs}): out [B, H, Tq, D] = softmax(scale·q·kᵀ over
   * the keys each query sees)·v and lse [B, H, Tq] = log Σ_j exp(scale·q_i·k_j) over those keys,
   * both contiguous. A query that sees no key gets out = 0 and lse = −∞. Must not need memory
   * proportional to Tq·Tk.
   */
  attention?(args: AttentionArgs<View<S>>, out: View<S>, lse: View<S>): void;
  /**
   * Attention backward: from the forward's arguments, its lse, delta [B, H, Tq] = Σ_d gradOut·out
   * and gradOut (contiguous), writes dq, dk, dv (contiguous, shaped like q, k, v). Pairs the mask
   * hides contribute nothing; a key no query sees gets dk = dv = 0.
   */
  attentionBackward?(
    args: AttentionArgs<View<S>>,
    saved: AttentionSaved<View<S>>,
    grads: AttentionGrads<View<S>>,
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
  /**
   * One AdamW step in place on contiguous `param`, `m`, `v` of one shape, from contiguous `grad`.
   * With `control` (contiguous float32 [skip, step]): nothing changes when skip ≠ 0, and the bias
   * corrections are for `step` read on the device (`s.stepSize` and `s.sqrtC2` when it equals
   * `s.step`, else computed from `s.lr`, `s.beta1`, `s.beta2`).
   */
  adamwUpdate?(
    param: View<S>,
    grad: View<S>,
    m: View<S>,
    v: View<S>,
    s: AdamWScalars,
    control?: View<S>,
  ): void;
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
