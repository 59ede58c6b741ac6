import type { Tensor } from './tensor.js';

/** One op application, as seen by dispatch hooks (autograd records these). */
export interface OpRecord {
  /** Op name, e.g. `add`, `matmul`, `reshape`, `softmax`. */
  readonly op: string;
  /** Tensor operands, in the op's documented order (JS number operands arrive as 0-d tensors). */
  readonly inputs: readonly Tensor[];
  /** Non-tensor arguments (axes, eps, …), exactly as the op received them after normalisation. */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Result tensors. */
  readonly outputs: readonly Tensor[];
}

/** A function called after every recorded op. */
export type DispatchHook = (record: OpRecord) => void;

const hooks: DispatchHook[] = [];
let depth = 0;

/**
 * Adds a hook called after every recorded op (autograd's tape, profilers). Returns a function
 * that removes it. Ops that run inside another recorded op (a fused op's fallback built from
 * primitives, say) are not reported separately: the hook sees the op the user called.
 */
export function addDispatchHook(hook: DispatchHook): () => void {
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Options of {@link dispatch}. */
export interface DispatchOptions {
  /**
   * A composite op is built entirely from other public ops and has no rule of its own: its
   * inner ops are recorded instead of it (e.g. `var`, `logsumexp`, `oneHot`).
   */
  composite?: boolean;
}

/**
 * The single entry point of every tensor op: checks that operands are alive and on one backend,
 * runs the op's implementation, and reports the application to hooks.
 */
export function dispatch<R extends Tensor | Tensor[]>(
  op: string,
  inputs: readonly Tensor[],
  attrs: Record<string, unknown>,
  run: () => R,
  options: DispatchOptions = {},
): R {
  const backend = inputs[0]?.backend;
  for (const t of inputs) {
    t.assertAlive(op);
    if (t.backend !== backend) {
      throw new Error(
        `${op}: operands live on different backends (${backend?.name} and ${t.backend.name}); move one with await t.toBackend(...)`,
      );
    }
  }
  if (options.composite) return run();
  depth++;
  let out: R;
  try {
    out = run();
  } finally {
    depth--;
  }
  if (depth === 0 && hooks.length > 0) {
    const record: OpRecord = { op, inputs, attrs, outputs: Array.isArray(out) ? out : [out] };
    for (const hook of hooks) hook(record);
  }
  return out;
}
