/**
 * @kiln/tensor/internal: the op machinery under the public API, for library code that builds on
 * it rather than for end users: `@kiln/autograd` (the op table its rules are typed from, the
 * backward ops and their composites), backend and kernel authors (`dispatch`, the op table, the
 * activation → unary kernel map) and new ops.
 *
 * - {@link OPS}: every op `dispatch` knows, with its attribute type and kind; {@link dispatch}
 *   is checked against it.
 * - Fused backward ops (`crossEntropyBackward`, `softmaxBackward`, `layerNormBackward`,
 *   `rmsNormBackward`, `embeddingBackward`, `activationBackward`, `attentionBackward`, and
 *   `attentionForward`, which also returns the log-sum-exp): one kernel where the backend has
 *   it, the composite otherwise.
 * - Their composites (`…BackwardComposite`): the same derivative from public ops only, which is
 *   both the fallback and what autograd records when backward is itself differentiated. Each
 *   derivative is written once, there.
 *
 * - {@link hostOutOfRange}: the first int32 value uploaded from the host outside `[0, n)`, with
 *   its position, without a readback (how a model names a bad token id at its own call).
 *
 * Nothing here is needed to use tensors; these names may change between minor versions.
 * @packageDocumentation
 */

export { dispatch } from './dispatch.js';
export {
  type AttentionAttrs,
  type AxisAttrs,
  type CreationAttrs,
  type CrossEntropyAttrs,
  type DifferentiableOp,
  type LayerNormAttrs,
  type MatmulEpilogueAttrs,
  type NoAttrs,
  type NonDifferentiableOp,
  OPS,
  type OpKind,
  type OpSpec,
  type OpsOfKind,
  type RandomAttrs,
  type ReduceAttrs,
  type RmsNormAttrs,
} from './op-table.js';
export { adamwScalars } from './ops/adamw-update.js';
export { attentionBackward, attentionBackwardComposite, attentionForward } from './ops/attention.js';
export { hostOutOfRange } from './ops/create.js';
export {
  type CrossEntropyBackwardOptions,
  crossEntropyBackward,
  crossEntropyBackwardComposite,
} from './ops/cross-entropy-backward.js';
export { embeddingBackward } from './ops/embedding-backward.js';
export { activationBackward, activationBackwardComposite } from './ops/epilogue.js';
export {
  layerNormBackward,
  layerNormBackwardComposite,
  type NormBackwardOptions,
  rmsNormBackward,
  rmsNormBackwardComposite,
} from './ops/norm-backward.js';
export { softmaxBackward, softmaxBackwardComposite } from './ops/softmax-backward.js';
