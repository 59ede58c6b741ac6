import { OPS, type OpAttrs, type OpName, type ReportedOp } from './op-table.js';
import type { Tensor } from './tensor.js';

/**
 * One op application, as seen by dispatch hooks (autograd records these): a union over the
 * reported ops, so checking `op` narrows `attrs` (`if (r.op === 'sum') r.attrs.axes`).
 */
export type OpRecord<K extends ReportedOp = ReportedOp> = K extends ReportedOp
  ? {
      /** Op name: the public function's name, e.g. `add`, `matmul`, `logSoftmax`. */
      readonly op: K;
      /** Tensor operands, in the op's documented order (JS number operands arrive as 0-d tensors). */
      readonly inputs: readonly Tensor[];
      /** Non-tensor arguments (axes, eps, …), exactly as the op received them after normalisation. */
      readonly attrs: Readonly<OpAttrs<K>>;
      /** Result tensors. */
      readonly outputs: readonly Tensor[];
    }
  : never;

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

/**
 * The single entry point of every tensor op: checks that operands are alive and on one backend,
 * runs the op's implementation, and reports the application to hooks. `op` must be a name of
 * the op table (`OPS` in `op-table.ts`) and `attrs` its attributes; a composite op (kind
 * `composite`) is not reported, its inner ops are.
 */
export function dispatch<K extends OpName, R extends Tensor | Tensor[]>(
  op: K,
  inputs: readonly Tensor[],
  attrs: OpAttrs<K>,
  run: () => R,
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
  const spec = OPS[op];
  // unreachable from typed code; a clear message for JavaScript callers and casts
  if (!spec)
    throw new Error(`dispatch: unknown op '${op}'; add it to OPS in packages/tensor/src/op-table.ts`);
  if (spec.kind === 'composite') return run();
  depth++;
  let out: R;
  try {
    out = run();
  } finally {
    depth--;
  }
  if (depth === 0 && hooks.length > 0) {
    // `op` and `attrs` belong together by dispatch's signature; the compiler cannot follow that
    // through a generic name into the union, hence the cast.
    const record = { op, inputs, attrs, outputs: Array.isArray(out) ? out : [out] } as unknown as OpRecord;
    for (const hook of hooks) hook(record);
  }
  return out;
}
