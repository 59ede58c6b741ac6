/**
 * Activation recomputation (what PyTorch calls gradient checkpointing): a function's activations
 * are not kept for backward; backward runs the function again (with the random generator
 * rewound, so dropout draws the same masks) and differentiates the recomputation. Trades one
 * extra forward for the memory of the activations. Named `recompute` so that "checkpoint" means
 * only a training checkpoint (`@kiln/trainer`).
 */
import { getRngState, setRngState, Tensor } from '@kiln/tensor';
import { runBackward } from './engine.js';
import { AutogradError } from './errors.js';
import {
  ensureRecording,
  makeLeaf,
  meta,
  Node,
  popTape,
  pushTape,
  type Ref,
  recordCustom,
  refOf,
  releaseTape,
  restoreRef,
  saveExtra,
  setRef,
  Tape,
} from './graph.js';
import { enableGrad, isGradEnabled } from './mode.js';
import type { BackwardContext, Rule } from './rules.js';

/** Tensors in a value (a tensor, or arrays/plain objects holding them), depth first; other values are skipped. */
function tensorsIn(value: unknown, out: Tensor[] = []): Tensor[] {
  if (value instanceof Tensor) out.push(value);
  else if (Array.isArray(value)) for (const v of value) tensorsIn(v, out);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) tensorsIn(v, out);
  }
  return out;
}

/** `value` with tensors replaced through `fn` (same traversal as {@link tensorsIn}). */
function replaceTensors(value: unknown, fn: (t: Tensor) => Tensor): unknown {
  if (value instanceof Tensor) return fn(value);
  if (Array.isArray(value)) return value.map((v) => replaceTensors(v, fn));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceTensors(v, fn)]));
  }
  return value;
}

/**
 * Wraps `fn` so that its intermediate activations are recomputed in backward instead of being
 * saved. Use it around blocks of a deep model: `x = recompute((h) => block.forward(h))(x)`.
 *
 * `fn` must be deterministic given its arguments and the random generator state, and the
 * tensors it reads through closures (e.g. parameters) must still be alive at backward. Tensors
 * among its arguments are kept (as aliases) until backward. Higher-order gradients
 * (`createGraph`) through a recomputed function are not supported.
 */
export function recompute<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  if (typeof fn !== 'function') throw new TypeError(`recompute: expected a function, got ${typeof fn}`);
  return (...args: A): R => {
    if (!isGradEnabled()) return fn(...args);
    ensureRecording();
    const rng = getRngState();
    const argTensors = tensorsIn(args);
    const argRefs = argTensors.map((t) => refOf(t));
    // Forward: record the graph's shape (no saved tensors) to learn which tracked tensors fn reads.
    const tape = new Tape(false);
    pushTape(tape);
    let out: R;
    try {
      out = fn(...args);
    } catch (err) {
      popTape(tape);
      releaseTape(tape);
      throw err;
    }
    popTape(tape);
    if (out instanceof Promise) {
      releaseTape(tape);
      throw new TypeError('recompute: fn returned a Promise; fn must be synchronous');
    }
    const inner = new Set(tape.nodes);
    const externals: Ref[] = [];
    for (const node of tape.nodes) {
      for (const r of node.inputs) {
        if (r && !inner.has(r.node) && !externals.some((e) => e.node === r.node && e.index === r.index))
          externals.push(r);
      }
    }
    const outputs = tensorsIn(out);
    const positions = outputs.flatMap((t, i) => {
      const r = refOf(t);
      return r && inner.has(r.node) && r.node.kind !== 'constant' ? [i] : [];
    });
    releaseTape(tape);
    if (externals.length === 0 || positions.length === 0) return out;

    const rule: Rule = {
      backward: (ctx: BackwardContext) =>
        backwardByRecomputing(ctx, node, fn, args, argTensors, argRefs, externals, positions, rng),
    };
    const node = new Node(
      'recompute',
      'op',
      rule,
      {},
      externals,
      externals.map((r) => r.node.outputMeta[r.index]),
      positions.map((i) => meta(outputs[i])),
    );
    for (const [i, t] of argTensors.entries()) saveExtra(node, i, t);
    recordCustom(
      node,
      positions.map((i) => outputs[i]),
    );
    return out;
  };
}

/** The backward of a recomputed call: runs `fn` again with gradients on and differentiates that. */
function backwardByRecomputing(
  ctx: BackwardContext,
  node: Node,
  fn: (...args: any[]) => unknown,
  args: unknown[],
  argTensors: Tensor[],
  argRefs: (Ref | undefined)[],
  externals: Ref[],
  positions: number[],
  rng: ReturnType<typeof getRngState>,
): (Tensor | null)[] {
  if (isGradEnabled()) {
    throw new AutogradError(
      'recompute: higher-order gradients (createGraph) through a recomputed function are not supported',
    );
  }
  const saved = node.saved.filter((s) => s.role === 'extra').map((s) => s.tensor);
  const byArg = new Map(argTensors.map((t, i) => [t, saved[i]]));
  // Arguments become variables again, on the saved handles; reads through closures keep their refs.
  const key = (r: Ref) => `${r.node.id}:${r.index}`;
  const targetOf = new Map<string, Ref>();
  const leaves: { t: Tensor; ref: Ref; previous: Ref | undefined }[] = [];
  saved.forEach((t, i) => {
    const orig = argRefs[i];
    if (!orig || orig.node.kind === 'constant') return;
    const previous = refOf(t);
    const known = targetOf.get(key(orig));
    const ref = known ? setRef(t, known.node, known.index) : makeLeaf(t, 'recompute-input');
    targetOf.set(key(orig), ref);
    leaves.push({ t, ref, previous });
  });
  const targets = externals.map((r) => targetOf.get(key(r)) ?? r);
  const targetNodes = new Set(targets.map((r) => r.node));
  const now = getRngState();
  setRngState(rng);
  const tape = new Tape();
  pushTape(tape);
  try {
    const again = tensorsIn(
      enableGrad(() => fn(...(replaceTensors(args, (t) => byArg.get(t) ?? t) as unknown[]))),
    );
    const roots = positions.flatMap((p, j) => {
      const g = ctx.outputGrads[j];
      return g ? [{ tensor: again[p], grad: g.alias() }] : [];
    });
    const results = runBackward(roots, (n) => targetNodes.has(n), { createGraph: false, retainGraph: false });
    return targets.map((r) => results.get(r.node)?.[r.index] ?? null);
  } finally {
    popTape(tape);
    releaseTape(tape);
    for (const l of leaves) restoreRef(l.t, l.ref, l.previous);
    setRngState(now);
  }
}
