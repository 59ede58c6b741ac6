/**
 * `trainStepMixed`: {@link trainStep} with float16 weights and activations in the forward and
 * backward, float32 master weights and optimizer state, and dynamic loss scaling, all decided on
 * the device (nothing is read back):
 *
 * ```text
 * copies ← float16(master weights); put the copies in the model        (Float16Weights.swapIn)
 * s ← the scale (a device tensor)                                        (DeviceLossScaler)
 * for each micro-batch i: objective → backward(float32(loss_i) × s)     (seed finite in float16)
 *                         acc ← acc + w_i · float32(copy.grad)           (float32 accumulation)
 * put the masters back; master.grad ← acc / Σ w          (still scaled, float32)
 * norm ← ‖master.grad‖ / s;  found ← norm is infinite or NaN  (0 or 1, on the device)
 * master.grad ← master.grad · min(1, gradClip / norm) / s   (unscale and clip: one multiply each)
 * optimizer.step({ skipIf: found })   (on found: no parameter, moment or step count changes)
 * scaler.update(found)                (back off on found, else maybe grow)
 * ```
 *
 * Micro-batches are weighted as in `accumulate.ts` (a step over several equals the step over
 * their concatenation), but each backward is seeded with the scale alone and the weights are
 * applied to float32 copies of the gradients, so the float16 seed is the same for every
 * micro-batch, however many tokens it holds. Like `trainStep`, and unlike PyTorch's
 * `GradScaler.step` with a non-fused optimizer (`found_inf.item()`), a step reads nothing back:
 * whether it was skipped is a device tensor in the result, read with the step log.
 */
import { backward, type Module, noGrad, type Parameter } from '@kiln/autograd';
import { div, keep, scope, type Tensor, where } from '@kiln/tensor';
import { gradNorm } from './clip.js';
import { type BatchInput, uploadBatch } from './data/batch.js';
import type { DeviceLossScaler } from './device-loss-scaler.js';
import type { Float16Weights } from './float16-weights.js';
import { modelBackend } from './language-model.js';
import { checkObjectiveOutput, type Objective } from './objective.js';
import type { Optimizer } from './optim/optimizer.js';
import { checkStepArguments, type TrainStepOptions, type TrainStepResult } from './train-step.js';
import {
  disposeWeightedMean,
  scalarFloat32,
  WeightedMean,
  type WeightedMeanResult,
} from './weighted-mean.js';

/** Options of {@link trainStepMixed}. */
export interface MixedStepOptions extends TrainStepOptions {
  /** The dynamic loss scale, on the device (updated by the step). */
  scaler: DeviceLossScaler;
  /** The float16 copies of the model's weights. */
  weights: Float16Weights;
}

/**
 * What {@link trainStepMixed} returns: {@link TrainStepResult} plus the scaling decision, as 0-d
 * float32 device tensors (the caller owns them; read them when it reads the loss).
 */
export interface MixedStepResult extends TrainStepResult {
  /** 1 when the gradients overflowed and the optimizer did not step, else 0. */
  skipped: Tensor;
  /** The loss scale the step used. */
  lossScale: Tensor;
}

/**
 * One mixed-precision optimizer step (see the file comment). The model's parameters must be
 * float32 (the masters); `weights` holds their float16 copies. The returned `gradNorm` is the
 * norm of the unscaled float32 gradients before clipping (infinite or NaN for a skipped step).
 * On an error the masters are back in the model, the gradients are zeroed and nothing is stepped.
 */
export async function trainStepMixed<M extends Module>(
  model: M,
  optimizer: Optimizer,
  batches: Iterable<BatchInput>,
  objective: Objective<M>,
  options: MixedStepOptions,
): Promise<MixedStepResult> {
  const { gradClip = 0, lr, scaler, weights } = options;
  checkStepArguments('trainStepMixed', objective, options);
  model.zeroGrad();
  let result: WeightedMeanResult | undefined;
  let norm: Tensor | undefined;
  let found: Tensor | undefined;
  const scale = keep(scaler.scaleTensor());
  try {
    result = accumulateScaled(model, weights, batches, objective, scale);
    const params = optimizer.namedParameters().map(([, p]) => p);
    // s is a power of two for power-of-two scales, so unscaling the norm is exact.
    norm = noGrad(() => scope(() => keep(gradNorm(params).div(scale))));
    found = keep(scaler.overflowFlag(norm));
    // On an overflow the unscaled gradients are garbage, but the optimizer writes nothing.
    unscaleAndClip(params, norm, scale, gradClip);
    if (lr !== undefined) optimizer.lr = lr;
    optimizer.step({ skipIf: found });
    scaler.update(found);
    model.zeroGrad();
    return { ...result, gradNorm: norm, skipped: found, lossScale: scale };
  } catch (error) {
    weights.swapOut();
    if (result) disposeWeightedMean(result);
    norm?.dispose();
    found?.dispose();
    scale.dispose();
    model.zeroGrad();
    throw error;
  }
}

/**
 * Forward and backward of every micro-batch on the float16 copies, seeded with `scale`; leaves
 * each master's `.grad` as the weighted float32 gradient of the step's mean loss, still
 * multiplied by `scale` (the caller unscales it, together with clipping).
 */
function accumulateScaled<M extends Module>(
  model: M,
  weights: Float16Weights,
  batches: Iterable<BatchInput>,
  objective: Objective<M>,
  scale: Tensor,
): WeightedMeanResult {
  const who = 'trainStepMixed';
  const pairs = weights.pairs().filter(([master]) => master.requiresGrad);
  const acc = new Map<Parameter, Tensor>();
  const mean = new WeightedMean();
  let firstWeight: Tensor | undefined;
  let index = 0;
  const backend = modelBackend(model);
  weights.swapIn();
  try {
    for (const input of batches) {
      const where_ = `${who} (micro-batch ${index})`;
      scope(() => {
        const batch = uploadBatch(input, { backend });
        const out = checkObjectiveOutput(objective(model, batch), where_);
        const weight = noGrad(() => scalarFloat32(out.weight, out.loss));
        const loss = out.loss.ndim === 0 ? out.loss : out.loss.reshape([]);
        const loss32 = loss.dtype === 'float32' ? loss : loss.cast('float32');
        // A batch of weight 0 contributes nothing, even with a NaN loss (as in accumulate.ts).
        backward(where(weight.gt(0), loss32, 0).mul(scale));
        noGrad(() => {
          // Σ w_i g_i: the first batch's gradients are weighted when a second one arrives, so a
          // single micro-batch's gradient is never multiplied and divided.
          if (index === 1) for (const [master, g] of acc) acc.set(master, replace(g, g.mul(firstWeight!)));
          for (const [master, copy] of pairs) {
            const g = copy.grad;
            if (g === null) continue;
            const g32 = g.cast('float32');
            copy.zeroGrad();
            const before = acc.get(master);
            if (index === 0) acc.set(master, keep(g32));
            else {
              const term = g32.mul(weight);
              acc.set(master, before === undefined ? keep(term) : replace(before, before.add(term)));
            }
          }
          if (index === 0) firstWeight = keep(weight.alias());
        });
        mean.add(out, who);
      });
      index++;
    }
    if (index === 0) throw new RangeError(`${who}: no micro-batches; pass at least one batch`);
    const result = mean.result(who);
    weights.swapOut();
    noGrad(() =>
      scope(() => {
        // One micro-batch: the accumulator is the gradient itself (no kernel); several: Σ w_i g_i / W.
        for (const [master, g] of acc) {
          master.zeroGrad();
          master.grad = index === 1 ? g : keep(g.div(result.weight));
          if (index === 1) acc.delete(master); // the master owns it now
        }
      }),
    );
    return result;
  } catch (error) {
    mean.dispose();
    throw error;
  } finally {
    weights.swapOut();
    for (const g of acc.values()) g.dispose();
    firstWeight?.dispose();
  }
}

/**
 * Multiplies every `.grad` (still scaled by `scale`) by `min(1, gradClip / (norm + 1e-6)) / scale`
 * (`1 / scale` without clipping): the unscale and the clip of `clipGradNorm` in one kernel per
 * parameter. `norm` is the unscaled norm.
 */
function unscaleAndClip(params: readonly Parameter[], norm: Tensor, scale: Tensor, gradClip: number): void {
  noGrad(() =>
    scope(() => {
      const inverse = scale.reciprocal();
      const factor = gradClip > 0 ? div(gradClip, norm.add(1e-6)).clamp(undefined, 1).mul(inverse) : inverse;
      for (const p of params) {
        const g = p.grad;
        if (g === null) continue;
        p.grad = keep(g.mul(factor));
        g.dispose();
      }
    }),
  );
}

/** `next`, kept, after disposing `old`. */
function replace(old: Tensor, next: Tensor): Tensor {
  old.dispose();
  return keep(next);
}
