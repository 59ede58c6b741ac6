/**
 * Reverse-mode traversal: from root tensors and their seed gradients, run each reachable
 * node's rule once, in reverse topological order, accumulating gradients per node output, and
 * collect the gradients of the target nodes.
 *
 * Rules run under no-grad unless `createGraph` (then their ops are recorded, so the gradients
 * can be differentiated again). Without `retainGraph`, each node's saved tensors are freed
 * right after its rule ran; a later backward through it fails with a message that says so.
 */
import { scope, type Tensor } from '@kiln/tensor';
import { AutogradError } from './errors.js';
import { freeNode, type Node, refOf, storageVersion, trackedAlias } from './graph.js';
import { withGradMode } from './mode.js';
import { zerosOn } from './rule-helpers.js';
import type { BackwardContext } from './rules.js';

/** Options of {@link runBackward}. */
export interface EngineOptions {
  /** Record the backward ops so the gradients can be differentiated again. */
  createGraph: boolean;
  /** Keep saved tensors after use, so backward can run through the same graph again. */
  retainGraph: boolean;
  /** Free every node reachable from the roots, not only those on the way to targets. */
  freeReachable?: boolean;
}

/** A root of backward: a tensor and the gradient flowing into it (the engine takes ownership). */
export interface Root {
  readonly tensor: Tensor;
  readonly grad: Tensor;
}

/** Gradients per target node output (index → gradient); absent where no gradient arrived. */
export type Gradients = Map<Node, (Tensor | undefined)[]>;

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Nodes reachable from `roots`, inputs before consumers (iterative: graphs can be deep). */
function postOrder(roots: readonly Node[]): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: { node: Node; next: number }[] = [];
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    stack.push({ node: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.node.inputs.length) {
        const r = top.node.inputs[top.next++];
        if (r && !seen.has(r.node)) {
          seen.add(r.node);
          stack.push({ node: r.node, next: 0 });
        }
      } else {
        stack.pop();
        order.push(top.node);
      }
    }
  }
  return order;
}

/** The error for a second backward through a graph freed by the first one. */
export function freedGraphError(node: Node): AutogradError {
  return new AutogradError(
    `backward: the graph behind this tensor was already freed by an earlier backward (op '${node.op}', node #${node.id}). ` +
      'Pass { retainGraph: true } to the first backward() if you need to run backward through the same graph again.',
  );
}

function checkSaved(node: Node): void {
  for (const s of node.saved) {
    if (storageVersion(s.tensor) !== s.version) {
      throw new AutogradError(
        `backward: ${s.role} ${s.index} of '${node.op}' (${shapeStr(s.tensor.shape)} ${s.tensor.dtype}) was modified in place by assign() ` +
          'after it was saved for backward. Write into a new tensor instead, or run backward before the update.',
      );
    }
  }
}

function contextFor(node: Node, needs: boolean[], outputGrads: (Tensor | null)[]): BackwardContext {
  const find = (role: 'input' | 'output', i: number): Tensor => {
    const s = node.saved.find((x) => x.role === role && x.index === i);
    if (!s) {
      throw new AutogradError(
        `gradient rule for '${node.op}' reads ${role} ${i}, which it does not list in save${role === 'input' ? 'Inputs' : 'Outputs'} (internal error in rules.ts)`,
      );
    }
    return s.tensor;
  };
  return {
    // the node's attrs are what dispatch reported for its op, the op its rule was looked up by
    attrs: node.attrs as BackwardContext['attrs'],
    input: (i) => find('input', i),
    output: (i) => find('output', i),
    inputShapes: node.inputMeta.map((m) => m.shape),
    inputDTypes: node.inputMeta.map((m) => m.dtype),
    needs,
    outputGrads,
  };
}

/** Runs one node's rule and returns the input gradients, checked and owned by the engine. */
function applyRule(
  node: Node,
  needs: boolean[],
  grads: (Tensor | undefined)[],
  createGraph: boolean,
): (Tensor | null)[] {
  const rule = node.rule!;
  return withGradMode(createGraph, () =>
    scope(() => {
      const outputGrads = node.outputMeta.map((_, i) => grads[i] ?? null);
      // Rules receive a materialised gradient for output 0 even if only another output got one.
      const g =
        outputGrads[0] ??
        zerosOn(grads.find((t) => t !== undefined)!, node.outputMeta[0].shape, node.outputMeta[0].dtype);
      const result = rule.backward(contextFor(node, needs, outputGrads), g);
      if (result.length !== node.inputs.length) {
        throw new AutogradError(
          `gradient rule for '${node.op}' returned ${result.length} gradients for ${node.inputs.length} inputs`,
        );
      }
      // Handles the engine or the node already owns: returning one of them must not hand it over.
      const seen = new Set<Tensor>([
        ...grads.filter((t): t is Tensor => t !== undefined),
        ...node.saved.map((s) => s.tensor),
      ]);
      return result.map((t, i) => {
        if (!t || !node.inputs[i] || !needs[i]) return null;
        const want = node.inputMeta[i];
        if (
          t.dtype !== want.dtype ||
          t.shape.length !== want.shape.length ||
          t.shape.some((d, j) => d !== want.shape[j])
        ) {
          throw new AutogradError(
            `gradient rule for '${node.op}' returned ${shapeStr(t.shape)} ${t.dtype} for input ${i} of ${shapeStr(want.shape)} ${want.dtype}` +
              ' (a broadcast dimension that was not summed away?)',
          );
        }
        // The same handle as an incoming gradient, a saved tensor or another result (add returns
        // g twice): give each owner its own handle so disposing one leaves the others intact.
        if (seen.has(t)) return trackedAlias(t);
        seen.add(t);
        return t;
      });
    }),
  );
}

/**
 * Backpropagates from `roots` and returns the gradients that reach the nodes `isTarget`
 * accepts. Gradients of targets are returned, not disposed; everything else the engine
 * created is disposed. The seeds in `roots` are owned by the engine.
 */
export function runBackward(
  roots: readonly Root[],
  isTarget: (node: Node) => boolean,
  options: EngineOptions,
): Gradients {
  const grads = new Map<Node, (Tensor | undefined)[]>();
  const results: Gradients = new Map();
  const rootNodes: Node[] = [];
  const accumulate = (node: Node, index: number, g: Tensor): void => {
    let slot = grads.get(node);
    if (!slot) grads.set(node, (slot = []));
    const prev = slot[index];
    if (!prev) {
      slot[index] = g;
      return;
    }
    slot[index] = withGradMode(options.createGraph, () => prev.add(g));
    prev.dispose();
    g.dispose();
  };
  for (const { tensor, grad } of roots) {
    const ref = refOf(tensor);
    if (!ref) {
      grad.dispose();
      continue;
    }
    if (ref.node.kind === 'constant') {
      grad.dispose();
      throw new AutogradError(
        `cannot differentiate: the output was computed through a non-differentiable op: ${ref.node.reason}`,
      );
    }
    rootNodes.push(ref.node);
    accumulate(ref.node, ref.index, grad);
  }

  const order = postOrder(rootNodes);
  // A node is needed when a target is reachable from it (or it is one).
  const needed = new Set<Node>();
  for (const node of order) {
    if (isTarget(node) || node.inputs.some((r) => r && needed.has(r.node))) needed.add(node);
  }

  let current: (Tensor | undefined)[] | undefined;
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i];
      const slot = grads.get(node);
      grads.delete(node);
      current = slot;
      if (!slot || !needed.has(node)) {
        for (const t of slot ?? []) t?.dispose();
        continue;
      }
      const target = isTarget(node);
      if (target) results.set(node, slot);
      if (node.kind === 'missing')
        throw new AutogradError(`backward: '${node.op}' cannot be differentiated: ${node.reason}`);
      if (node.kind === 'op' && node.inputs.some((r) => r && needed.has(r.node))) {
        if (node.freed) throw freedGraphError(node);
        checkSaved(node);
        const needs = node.inputs.map((r) => r !== null && needed.has(r.node));
        const inputGrads = applyRule(node, needs, slot, options.createGraph);
        inputGrads.forEach((g, k) => {
          const r = node.inputs[k];
          if (g && r) accumulate(r.node, r.index, g);
        });
        if (!options.retainGraph) freeNode(node);
      }
      if (!target) for (const t of slot) t?.dispose();
      current = undefined;
    }
  } catch (err) {
    for (const slot of grads.values()) for (const t of slot) t?.dispose();
    for (const t of current ?? []) t?.dispose();
    for (const slot of results.values()) for (const t of slot) t?.dispose();
    throw err;
  }
  if (!options.retainGraph && options.freeReachable) for (const node of order) freeNode(node);
  return results;
}
