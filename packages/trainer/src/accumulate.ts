/**
 * Gradient accumulation by weight: one optimizer step over several micro-batches equals the
 * step over their concatenation, even when their weights differ (masked targets, sequences of
 * different lengths). The step's loss is Σ loss_i × w_i / Σ w_i, so its gradient is
 * Σ w_i ∇loss_i / W. The total W is only known on the device after the last micro-batch (the
 * weights are not read back), so:
 *
 * - micro-batch 0 runs `backward(loss_0)`; with a single micro-batch that is all (the gradients
 *   are exactly those of the unaccumulated step);
 * - before micro-batch 1, the gradients are multiplied by w_0; micro-batch i ≥ 1 runs
 *   `backward(loss_i × w_i)` (0 when w_i = 0, even for a NaN loss);
 * - after the last, the gradients are divided by W.
 */
import { backward, type Module, noGrad, type Parameter } from '@kiln/autograd';
import { keep, scope, type Tensor } from '@kiln/tensor';
import { type BatchInput, tokenBatchInput, uploadBatch } from './data/batch.js';
import type { TokenBatch } from './data/batches.js';
import { type LanguageModel, modelBackend } from './language-model.js';
import { checkObjectiveOutput, languageModelObjective, type Objective } from './objective.js';
import {
  disposeWeightedMean,
  scalarFloat32,
  WeightedMean,
  type WeightedMeanResult,
  weighted,
} from './weighted-mean.js';

/** Replaces each parameter's `.grad` by `grad × factor` or `grad / factor` (factor: a 0-d tensor). */
function scaleGradients(params: readonly Parameter[], factor: Tensor, op: 'mul' | 'div'): void {
  noGrad(() =>
    scope(() => {
      for (const p of params) {
        const g = p.grad;
        if (g === null) continue;
        const f = factor.dtype === g.dtype ? factor : factor.cast(g.dtype);
        p.grad = keep(op === 'mul' ? g.mul(f) : g.div(f));
        g.dispose();
      }
    }),
  );
}

/**
 * Runs `objective` forward and backward on each micro-batch of `batches` in turn (drawn lazily,
 * just before each runs; activations freed before the next), adding into the parameters'
 * `.grad` (zero them before) so that they end as the gradient of the weighted mean loss (see the
 * file comment). Returns the weighted means as device tensors the caller owns. `who` names the
 * caller in errors.
 */
export function accumulateObjective<M extends Module>(
  model: M,
  batches: Iterable<BatchInput>,
  objective: Objective<M>,
  who: string,
): WeightedMeanResult {
  const backend = modelBackend(model);
  const params = model.parameters();
  const mean = new WeightedMean();
  let firstWeight: Tensor | undefined;
  let index = 0;
  try {
    for (const input of batches) {
      const where = `${who} (micro-batch ${index})`;
      scope(() => {
        const batch = uploadBatch(input, { backend });
        const out = checkObjectiveOutput(objective(model, batch), where);
        if (index === 0) {
          backward(out.loss);
          firstWeight = keep(noGrad(() => scalarFloat32(out.weight, out.loss)));
        } else {
          if (index === 1) scaleGradients(params, firstWeight!, 'mul');
          backward(weighted(out.loss, scalarFloat32(out.weight, out.loss)));
        }
        mean.add(out, who);
      });
      index++;
    }
    if (index === 0) throw new RangeError(`${who}: no micro-batches; pass at least one batch`);
    const result = mean.result(who);
    if (index > 1) scaleGradients(params, result.weight, 'div');
    return result;
  } catch (error) {
    mean.dispose();
    throw error;
  } finally {
    firstWeight?.dispose();
  }
}

/**
 * Runs forward and backward on each micro-batch in turn, adding into the parameters' `.grad`
 * (call `zeroGrad` before), and returns the loss of the step as a 0-d tensor the caller owns
 * (not part of any graph): the mean over the micro-batches weighted by their target tokens, so
 * the gradients equal those of one batch holding all their windows. `nextBatch(i)` is called
 * for micro-batch `i` just before it runs, so batches are drawn in the same order as an
 * unaccumulated run. Activations of one micro-batch are freed before the next starts. For
 * other objectives and batch shapes, see `trainStep`.
 */
export function accumulateGradients(
  model: LanguageModel,
  microBatches: number,
  nextBatch: (index: number) => TokenBatch,
): Tensor {
  if (!Number.isInteger(microBatches) || microBatches < 1) {
    throw new RangeError(`accumulateGradients: microBatches must be a positive integer, got ${microBatches}`);
  }
  function* draw(): Generator<BatchInput> {
    for (let i = 0; i < microBatches; i++) yield tokenBatchInput(nextBatch(i));
  }
  const result = accumulateObjective(model, draw(), languageModelObjective(), 'accumulateGradients');
  const loss = result.loss.alias();
  disposeWeightedMean(result);
  return loss;
}
