/**
 * `backward(loss)`: the PyTorch-style convenience on the functional core. It backpropagates
 * from a scalar loss into every Parameter (requiring grad) the loss depends on and adds the
 * result to each parameter's `.grad`.
 */
import { isFloat, keep, onesLike, type Tensor } from '@kiln/tensor';
import { runBackward } from './engine.js';
import { AutogradError } from './errors.js';
import { refOf } from './graph.js';
import { withGradMode } from './mode.js';
import { Parameter } from './parameter.js';

/** Options of {@link backward}. */
export interface BackwardOptions {
  /**
   * Keep the tensors saved for backward, so backward can run through this graph again
   * (default: false, or true with `createGraph`). Without it they are freed as backward goes.
   */
  retainGraph?: boolean;
  /** Record backward itself, so the `.grad`s can be differentiated again (default false). */
  createGraph?: boolean;
}

/**
 * Computes d`loss`/dp for every Parameter p that requires grad and that `loss` depends on, and
 * accumulates it into `p.grad` (creating it when null). `loss` must have one element. The
 * graph is freed as backward runs unless `retainGraph`; a second backward through a freed
 * graph throws an error that says to pass `retainGraph`.
 */
export function backward(loss: Tensor, options: BackwardOptions = {}): void {
  const createGraph = options.createGraph ?? false;
  const retainGraph = options.retainGraph ?? createGraph;
  loss.assertAlive('backward');
  if (loss.size !== 1 || !isFloat(loss.dtype)) {
    throw new AutogradError(
      `backward: loss must be a float tensor with one element, got [${loss.shape}] ${loss.dtype}; reduce it first (e.g. loss.mean())`,
    );
  }
  const ref = refOf(loss);
  if (!ref) {
    throw new AutogradError(
      'backward: loss does not require grad: it was computed without any Parameter that requires grad, under noGrad(), or from values returned by grad/valueAndGrad (which are constants)',
    );
  }
  const isParam = (node: { kind: string; leaf: Tensor | null }) =>
    node.kind === 'leaf' && node.leaf instanceof Parameter && node.leaf.requiresGrad && !node.leaf.isDisposed;
  const results = runBackward([{ tensor: loss, grad: onesLike(loss) }], isParam, {
    createGraph,
    retainGraph,
    freeReachable: true,
  });
  for (const [node, [g]] of results) {
    if (!g) continue;
    const p = node.leaf as Parameter;
    if (p.grad === null) {
      const fresh = keep(g.isContiguous ? g : withGradMode(createGraph, () => g.contiguous()));
      if (fresh !== g) g.dispose();
      p.grad = fresh;
    } else {
      // add writes a new contiguous tensor, so a strided `g` needs no copy first.
      const sum = keep(withGradMode(createGraph, () => p.grad!.add(g)));
      p.grad.dispose();
      g.dispose();
      p.grad = sum;
    }
  }
}
