/**
 * Gradient accumulation: one optimizer step over several micro-batches. Each micro-batch's
 * loss is divided by their number before backward, so the accumulated `.grad`s equal those of
 * one batch holding all the windows (every micro-batch has the same number of tokens).
 */
import { backward, noGrad } from '@kiln/autograd';
import { scope, type Tensor } from '@kiln/tensor';
import { batchToTensors } from './data/batch-tensors.js';
import type { TokenBatch } from './data/batches.js';
import { forwardLoss, type LanguageModel, modelBackend } from './language-model.js';

/**
 * Runs forward and backward on each micro-batch in turn, adding into the parameters' `.grad`
 * (call `zeroGrad` before), and returns the mean loss over the micro-batches as a 0-d tensor
 * the caller owns (not part of any graph). `nextBatch(i)` is called for micro-batch `i` just
 * before it runs, so batches are drawn in the same order as an unaccumulated run. Activations
 * of one micro-batch are freed before the next starts.
 */
export function accumulateGradients(
  model: LanguageModel,
  microBatches: number,
  nextBatch: (index: number) => TokenBatch,
): Tensor {
  if (!Number.isInteger(microBatches) || microBatches < 1) {
    throw new RangeError(`accumulateGradients: microBatches must be a positive integer, got ${microBatches}`);
  }
  const backend = modelBackend(model);
  let sum: Tensor | undefined;
  for (let i = 0; i < microBatches; i++) {
    const next = scope(() => {
      const { inputs, targets } = batchToTensors(nextBatch(i), { backend });
      const loss = forwardLoss(model, inputs, targets);
      backward(microBatches === 1 ? loss : loss.div(microBatches));
      // The value, detached from the graph: `alias` is a plain new handle, not a recorded op.
      return noGrad(() => (sum ? sum.add(loss) : loss.alias()));
    });
    sum?.dispose();
    sum = next;
  }
  if (microBatches === 1) return sum!;
  const mean = noGrad(() => sum!.div(microBatches));
  sum!.dispose();
  return mean;
}
