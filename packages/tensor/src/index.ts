/**
 * @kiln/tensor: tensors on WebGPU and the CPU behind one dispatch path.
 *
 * ```ts
 * import { init, tensor, scope } from '@kiln/tensor';
 * await init();                       // WebGPU when an adapter exists, else CPU
 * const y = await scope(async () => {
 *   const a = tensor([[1, 2], [3, 4]]);
 *   return a.matmul(a.T).softmax();
 * });
 * console.log(await y.toArray());
 * y.dispose();
 * ```
 *
 * This entry is what users call. Library code that builds on the op machinery (autograd, new
 * backends and kernels) imports the op table, `dispatch` and the backward ops from
 * `@kiln/tensor/internal`.
 * @packageDocumentation
 */

export type {
  AdamWScalars,
  AttentionArgs,
  AttentionGrads,
  AttentionMask,
  AttentionRanges,
  AttentionSaved,
  Backend,
  BackendInfo,
  BackendMemory,
  BinaryOp,
  MatmulActivation,
  MatmulEpilogue,
  RandomKind,
  RandomParams,
  ReduceOp,
  UnaryOp,
  UnaryParams,
  View,
} from './backend.js';
export { CpuBackend } from './backends/cpu/backend.js';
export { initialisedBackends, resolveBackend } from './context.js';
export { loadedTensorCopies, secondCopyHint } from './copies.js';
export { addDispatchHook, type DispatchHook, type OpRecord } from './dispatch.js';
export {
  DTYPES,
  type DType,
  float16BitsToNumber,
  type HostArray,
  isFloat,
  isInteger,
  numberToFloat16Bits,
  roundToFloat16,
} from './dtype.js';
export { BackendError, DisposedError, DTypeError, IndexError, ShapeError } from './errors.js';
export {
  type AdapterOptions,
  type BackendChoice,
  backendInfo,
  destroyBackend,
  type InitOptions,
  init,
  initBackend,
} from './init.js';
export { keep, type LeakReport, leakReports, scope, setLeakDetection } from './lifetime.js';
export { type MemoryInfo, memory } from './memory.js';
export type { OpAttrs, OpName, ReportedOp } from './op-table.js';
export { type AdamWHyper, type AdamWUpdateOptions, adamwUpdate } from './ops/adamw-update.js';
export {
  type AttentionMaskOptions,
  type AttentionOptions,
  attention,
  attentionMask,
  attentionWeights,
} from './ops/attention.js';
export {
  arange,
  type CreateOptions,
  eye,
  full,
  fullLike,
  linspace,
  ones,
  onesLike,
  rand,
  randint,
  randn,
  type TensorData,
  tensor,
  zeros,
  zerosLike,
} from './ops/create.js';
export {
  abs,
  add,
  ceil,
  clamp,
  cos,
  div,
  eq,
  exp,
  floor,
  ge,
  gelu,
  gt,
  le,
  log,
  logicalAnd,
  logicalNot,
  logicalOr,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  neg,
  pow,
  reciprocal,
  relu,
  round,
  rsqrt,
  sigmoid,
  sign,
  silu,
  sin,
  sqrt,
  square,
  sub,
  tanh,
  where,
} from './ops/elementwise.js';
export { type MatmulEpilogueOptions, matmulEpilogue } from './ops/epilogue.js';
export { groupedMatmul, groupedOuter } from './ops/grouped-matmul.js';
export {
  embedding,
  gather,
  indexSelect,
  multinomial,
  oneHot,
  scatterAdd,
  setIndexChecking,
  topk,
} from './ops/indexing.js';
export { chunk, concat, pad, split, stack, tril, triu } from './ops/join.js';
export { matmul } from './ops/linalg.js';
export {
  type CrossEntropyOptions,
  crossEntropy,
  layerNorm,
  logSoftmax,
  type NormOptions,
  rmsNorm,
  softmax,
} from './ops/nn.js';
export { argmax, argmin, cumsum, logsumexp, max, mean, min, prod, sum, variance } from './ops/reduce.js';
export { combineRows, dispatchRows, slotDots } from './ops/slot-rows.js';
export {
  cast,
  contiguous,
  expand,
  flatten,
  narrow,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
  view,
} from './ops/views.js';
export { getRngState, manualSeed, type RngState, setRngState } from './random.js';
export { broadcastShapes, contiguousStrides, type Shape, sizeOf } from './shape.js';
export { Tensor } from './tensor.js';
