/**
 * The recorded graph: nodes, the tensor → node map, tapes, saved tensors and their lifetimes.
 *
 * One dispatch hook sees every op of @kiln/tensor. While grad mode is on and an op has an input
 * that is tracked (a Parameter, a tensor being differentiated by `grad`, or an output of an
 * earlier recorded op), the hook creates a {@link Node}: which rule computes its gradient, which
 * inputs it came from, and aliases of the tensors its rule declared it needs. Tensors are never
 * patched: the map from output tensor to node is a `WeakMap` owned by this module.
 *
 * Saved tensors are aliases (new handles on the same storage), `keep()`-ed so that a user
 * disposing their handle or an enclosing `scope()` ending cannot free what backward needs. They
 * are disposed as soon as nothing can use them any more:
 * - when backward has run the node's rule (unless `retainGraph`);
 * - when the `grad`/`valueAndGrad` call that recorded the node returns (its tape is released);
 * - for nodes recorded outside any call (the PyTorch-style path), when a sweep finds that every
 *   output handle of the node is disposed and no live node consumes it, i.e. no backward can
 *   ever reach it again. Sweeps run when that list doubles, so a forward pass that is never
 *   differentiated costs memory only until its outputs are disposed and the next sweep.
 */
import {
  addDispatchHook,
  type DType,
  isFloat,
  keep,
  type OpRecord,
  type Shape,
  type Tensor,
} from '@kiln/tensor';
import { OPS } from '@kiln/tensor/internal';
import { AutogradError } from './errors.js';
import { isGradEnabled } from './mode.js';
import { isDifferentiable, RULES, type Rule } from './rules.js';

/**
 * - `op`: a differentiable op with a rule.
 * - `leaf`: a variable gradients are collected for (a Parameter, or an input of `grad`).
 * - `constant`: output of a non-differentiable op (argmax, a comparison, a cast to int …), or
 *   computed only from such outputs. It is a constant for differentiation; `reason` says why.
 * - `missing`: an op without a gradient rule; backward fails if a gradient has to flow into it.
 */
export type NodeKind = 'op' | 'leaf' | 'constant' | 'missing';

/** Shape and dtype of a tensor, kept without keeping the tensor. */
export interface TensorMeta {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A tensor saved for backward: an alias, and the storage version at the time it was saved. */
export interface SavedTensor {
  readonly role: 'input' | 'output' | 'extra';
  readonly index: number;
  readonly tensor: Tensor;
  readonly version: number;
}

/** Output `index` of `node`: what a tracked tensor maps to. */
export interface Ref {
  readonly node: Node;
  readonly index: number;
}

let nextNodeId = 1;

/** One recorded op application (or a leaf variable). */
export class Node {
  readonly id = nextNodeId++;
  /** Tensors the rule reads in backward (aliases); emptied when the node is freed. */
  saved: SavedTensor[] = [];
  /** Output handles that map to this node, to tell when nothing can reach it any more. */
  readonly outputs: Tensor[] = [];
  /** Live (not freed) nodes that have this node as an input. */
  consumers = 0;
  /** True once the saved tensors were released; backward through it is then an error. */
  freed = false;

  constructor(
    readonly op: string,
    readonly kind: NodeKind,
    /** Gradient rule (op nodes). */
    readonly rule: Rule | null,
    /** The op's attributes, as dispatch reported them. */
    readonly attrs: object,
    /** Per input: where its gradient goes, or null when it gets none (constants, integers). */
    readonly inputs: readonly (Ref | null)[],
    readonly inputMeta: readonly TensorMeta[],
    readonly outputMeta: readonly TensorMeta[],
    /** Why a `constant` or `missing` node cannot be differentiated. */
    readonly reason = '',
    /** The variable of a `leaf` node. */
    readonly leaf: Tensor | null = null,
  ) {
    for (const r of inputs) if (r) r.node.consumers++;
  }
}

// ---- tensor → node ------------------------------------------------------------------------------

const refs = new WeakMap<Tensor, Ref>();

/** The node output a tensor maps to, if it is tracked. */
export function refOf(t: Tensor): Ref | undefined {
  return refs.get(t);
}

/** True when gradients can flow into `t` (a variable, or computed from one by differentiable ops). */
export function isTracked(t: Tensor): boolean {
  const r = refs.get(t);
  return r !== undefined && r.node.kind !== 'constant';
}

/** Maps `t` to output `index` of `node`. */
export function setRef(t: Tensor, node: Node, index: number): Ref {
  const ref = { node, index };
  refs.set(t, ref);
  node.outputs.push(t);
  return ref;
}

/** Makes `t` a leaf variable (gradients are collected for it). */
export function makeLeaf(t: Tensor, op = 'leaf'): Ref {
  ensureRecording();
  const node = new Node(op, 'leaf', null, {}, [], [], [meta(t)], '', t);
  return setRef(t, node, 0);
}

/** Undoes {@link makeLeaf}: if `t` still maps to `ref`, it maps to `previous` again (or to nothing). */
export function restoreRef(t: Tensor, ref: Ref, previous?: Ref): void {
  if (refs.get(t) !== ref) return;
  if (previous) refs.set(t, previous);
  else refs.delete(t);
}

/** A new handle on `t`'s data that maps to the same node output (a tracked alias). */
export function trackedAlias(t: Tensor): Tensor {
  const a = t.alias();
  const r = refs.get(t);
  if (r) setRef(a, r.node, r.index);
  return a;
}

/**
 * A new handle on `t`'s data that is not tracked: a constant for differentiation (what
 * PyTorch calls `detach()` and JAX `stop_gradient`). Dispose it like any tensor.
 */
export function detach(t: Tensor): Tensor {
  return t.alias();
}

/** Shape and dtype of `t`. */
export function meta(t: Tensor): TensorMeta {
  return { shape: t.shape, dtype: t.dtype };
}

// ---- in-place writes ----------------------------------------------------------------------------

// `Tensor.version` lives on the handle that `assign` was called on, but a saved tensor is
// another handle on the same storage, so versions are counted per storage here.
const storageVersions = new WeakMap<object, number>();

/** How many in-place writes (`assign`) have hit `t`'s storage since it was created. */
export function storageVersion(t: Tensor): number {
  return storageVersions.get(t.storage) ?? 0;
}

function onAssign(record: OpRecord): void {
  const [target, src] = record.inputs;
  storageVersions.set(target.storage, storageVersion(target) + 1);
  if (!isGradEnabled()) return;
  if (isTracked(src)) {
    throw new AutogradError(
      `assign: in-place writes are not differentiable, and the value written into ${fmt(target)} depends on tensors that require grad. ` +
        'Run updates under noGrad(() => …) (optimizer steps), or compute the new value functionally instead of writing it in place.',
    );
  }
  // The target now holds a value that does not depend on its old graph: it becomes a constant.
  const r = refs.get(target);
  if (r && r.node.kind !== 'leaf') refs.delete(target);
}

// ---- tapes --------------------------------------------------------------------------------------

/** The nodes recorded while one `grad`/`valueAndGrad`/`recompute` call runs (or outside any). */
export class Tape {
  nodes: Node[] = [];
  /**
   * Record nodes without saving tensors (recompute's forward: only the graph's shape is
   * needed, to learn which tracked tensors the function reads).
   */
  constructor(readonly saveTensors = true) {}
}

const ambient = new Tape();
const tapes: Tape[] = [];
const MIN_SWEEP = 4096;
let sweepAt = MIN_SWEEP;

/** Makes `tape` receive newly recorded nodes until {@link popTape}. */
export function pushTape(tape: Tape): void {
  tapes.push(tape);
}

/** Undoes {@link pushTape}. */
export function popTape(tape: Tape): void {
  const top = tapes.pop();
  if (top !== tape) throw new Error('autograd: tape stack out of order (internal error)');
}

function currentTape(): Tape {
  return tapes.length > 0 ? tapes[tapes.length - 1] : ambient;
}

function addToTape(node: Node): void {
  const tape = currentTape();
  tape.nodes.push(node);
  if (tape === ambient && ambient.nodes.length >= sweepAt) sweepAmbient();
}

/** Moves `tape`'s nodes to the enclosing tape (used when a call's graph must outlive it). */
export function mergeIntoParent(tape: Tape): void {
  const parent = currentTape();
  for (const n of tape.nodes) parent.nodes.push(n);
  tape.nodes = [];
  if (parent === ambient && ambient.nodes.length >= sweepAt) sweepAmbient();
}

/** Disposes a node's saved tensors. Backward through it afterwards is an error. */
export function freeNode(node: Node): void {
  if (node.freed) return;
  node.freed = true;
  for (const s of node.saved) s.tensor.dispose();
  node.saved = [];
  for (const r of node.inputs) if (r) r.node.consumers--;
}

/** Frees every node of `tape` and untracks their outputs: what the call computed becomes constant. */
export function releaseTape(tape: Tape): void {
  for (const node of tape.nodes) {
    freeNode(node);
    for (const out of node.outputs) if (refs.get(out)?.node === node) refs.delete(out);
  }
  tape.nodes = [];
}

/**
 * Frees nodes recorded outside any call that no backward can reach any more: every output
 * handle disposed and no live consumer. Newest first, so freeing a consumer can free its inputs.
 */
export function sweepAmbient(): void {
  const kept: Node[] = [];
  for (let i = ambient.nodes.length - 1; i >= 0; i--) {
    const n = ambient.nodes[i];
    if (n.freed || n.kind === 'leaf' || n.kind === 'constant') continue;
    if (n.consumers === 0 && n.outputs.every((t) => t.isDisposed)) {
      freeNode(n);
      continue;
    }
    kept.push(n);
  }
  kept.reverse();
  ambient.nodes = kept;
  sweepAt = Math.max(MIN_SWEEP, 2 * kept.length);
}

/**
 * What the graph currently holds: recorded nodes whose saved tensors are not freed yet, and
 * those saved tensors (aliases). Both return to their previous values after a training step;
 * useful to assert that a loop does not keep graphs alive.
 */
export function graphStats(): { liveNodes: number; savedTensors: number } {
  let liveNodes = 0;
  let savedTensors = 0;
  for (const tape of [ambient, ...tapes]) {
    for (const n of tape.nodes) {
      if (n.freed || n.kind === 'leaf' || n.kind === 'constant') continue;
      liveNodes++;
      savedTensors += n.saved.length;
    }
  }
  return { liveNodes, savedTensors };
}

// ---- recording ----------------------------------------------------------------------------------

let recording = false;

/**
 * Installs the dispatch hook (once). Called when something becomes tracked (a Parameter is
 * created, `grad` starts): until then, nothing can be recorded and importing this package
 * has no effect on @kiln/tensor.
 */
export function ensureRecording(): void {
  if (recording) return;
  addDispatchHook(record);
  recording = true;
}

function save(role: SavedTensor['role'], index: number, t: Tensor): SavedTensor {
  const alias = keep(t.alias());
  // The alias stands for the same value in the graph, so rules recorded with createGraph
  // connect to where `t` came from (that is what makes second derivatives work). It is not
  // added to the node's outputs: it lives exactly as long as the saving node.
  const r = refs.get(t);
  if (r) refs.set(alias, r);
  return { role, index, tensor: alias, version: storageVersion(t) };
}

/** Saves `t` on `node` (for custom nodes such as recompute). */
export function saveExtra(node: Node, index: number, t: Tensor): void {
  node.saved.push(save('extra', index, t));
}

function saveFor(node: Node, rule: Rule, rec: OpRecord): void {
  const inputs = rule.saveInputs === 'all' ? rec.inputs.map((_, i) => i) : (rule.saveInputs ?? []);
  // optional operands and outputs (a bias, a kept pre-activation) may be absent: skip those
  for (const i of inputs) if (i < rec.inputs.length) node.saved.push(save('input', i, rec.inputs[i]));
  for (const i of rule.saveOutputs ?? [])
    if (i < rec.outputs.length) node.saved.push(save('output', i, rec.outputs[i]));
}

function markConstant(record: OpRecord, reason: string): void {
  const node = new Node(record.op, 'constant', null, record.attrs, [], [], record.outputs.map(meta), reason);
  for (const [i, t] of record.outputs.entries()) setRef(t, node, i);
  addToTape(node);
}

function fmt(t: Tensor): string {
  return `[${t.shape.join(',')}] ${t.dtype}`;
}

/** Adds a node for a custom backward (recompute) and maps its outputs. */
export function recordCustom(node: Node, outputs: readonly Tensor[]): void {
  for (const [i, t] of outputs.entries()) if (isFloat(t.dtype)) setRef(t, node, i);
  addToTape(node);
}

function record(rec: OpRecord): void {
  if (OPS[rec.op].kind === 'inPlace') {
    onAssign(rec);
    return;
  }
  if (rec.inputs.length === 0 || !isGradEnabled()) return;
  let tracked: (Ref | undefined)[] | null = null;
  for (let i = 0; i < rec.inputs.length; i++) {
    const r = refs.get(rec.inputs[i]);
    if (r) (tracked ??= new Array(rec.inputs.length))[i] = r;
  }
  if (tracked) recordTracked(rec, tracked);
}

/** Records an op at least one of whose inputs is tracked. */
function recordTracked(rec: OpRecord, tracked: (Ref | undefined)[]): void {
  const spec = OPS[rec.op];
  if (spec.kind === 'nonDifferentiable') {
    markConstant(rec, `'${rec.op}' is not differentiable (${spec.reason})`);
    return;
  }
  // Gradients flow only into float inputs that are variables or computed from them.
  const inputs = rec.inputs.map((t, i) => {
    const r = tracked[i];
    return r && r.node.kind !== 'constant' && isFloat(t.dtype) ? r : null;
  });
  if (inputs.every((r) => r === null)) {
    const from = tracked.find((r) => r?.node.kind === 'constant');
    markConstant(rec, from ? from.node.reason : `'${rec.op}' has no float input to differentiate`);
    return;
  }
  const inputMeta = rec.inputs.map(meta);
  const outputMeta = rec.outputs.map(meta);
  // looked up at run time too: a test may take a rule out of the table
  const rule: Rule | undefined = isDifferentiable(rec.op) ? RULES[rec.op] : undefined;
  if (!rule) {
    const reason = isDifferentiable(rec.op)
      ? `no gradient rule is registered for '${rec.op}' (add one to packages/autograd/src/rules.ts; see docs/autograd.md)`
      : `'${rec.op}' has no gradient rule: ${spec.reason}`;
    const node = new Node(rec.op, 'missing', null, rec.attrs, inputs, inputMeta, outputMeta, reason);
    for (const [i, t] of rec.outputs.entries()) setRef(t, node, i);
    addToTape(node);
    return;
  }
  if (!rec.outputs.some((t) => isFloat(t.dtype))) {
    markConstant(rec, `'${rec.op}' returns ${rec.outputs[0]?.dtype}, which has no gradient`);
    return;
  }
  const node = new Node(rec.op, 'op', rule, rec.attrs, inputs, inputMeta, outputMeta);
  for (const [i, t] of rec.outputs.entries()) {
    if (isFloat(t.dtype)) {
      setRef(t, node, i);
    } else {
      const reason = `output ${i} of '${rec.op}' is ${t.dtype}, which has no gradient`;
      setRef(t, new Node(rec.op, 'constant', null, rec.attrs, [], [], [meta(t)], reason), 0);
    }
  }
  // after mapping the outputs, so saved outputs map to this node too
  if (currentTape().saveTensors) saveFor(node, rule, rec);
  addToTape(node);
}
