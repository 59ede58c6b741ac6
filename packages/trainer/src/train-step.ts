/**
 * `trainStep`: one optimizer step of any objective over any micro-batches. The unit the
 * `Trainer` loop calls, and that loops with rollouts (PPO, GRPO) call between generations:
 *
 * ```text
 * zero the gradients
 * for each micro-batch: upload → objective → backward (weighted, see accumulate.ts) → free activations
 * norm ← clip the gradients to gradClip (or only measure them)
 * optimizer.step(); zero the gradients
 * ```
 *
 * Nothing is read back: the loss, weight, gradient norm and metrics come back as device tensors.
 */
import type { Module } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import { accumulateObjective } from './accumulate.js';
import { clipGradNorm, gradNorm } from './clip.js';
import type { BatchInput } from './data/batch.js';
import type { Objective } from './objective.js';
import type { Optimizer } from './optim/optimizer.js';
import { disposeWeightedMean } from './weighted-mean.js';

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Clip the gradients to this global norm; 0 or absent only measures the norm. */
  gradClip?: number;
  /** Learning rate to set on the optimizer before its step (absent: keep `optimizer.lr`). */
  lr?: number;
}

/** What {@link trainStep} returns: 0-d float32 device tensors that the caller owns (dispose them). */
export interface TrainStepResult {
  /** The step's loss: the micro-batches' losses averaged by weight (exactly the loss with one micro-batch). */
  loss: Tensor;
  /** The total weight of the micro-batches (e.g. target tokens). */
  weight: Tensor;
  /** The global gradient norm before clipping. */
  gradNorm: Tensor;
  /** The objective's metrics, averaged by weight like the loss. */
  metrics: Record<string, Tensor>;
}

/**
 * One optimizer step of `objective` over `batches` (see the file comment): the gradients are
 * those of the weighted mean loss, so a step over several micro-batches equals the step over
 * their concatenation. `batches` is iterated once, lazily (a generator may draw each micro-batch
 * just before it runs); device tensors in it stay the caller's. On an error the gradients are
 * zeroed and nothing is stepped.
 *
 * ```ts
 * const { loss, gradNorm } = trainStep(model, optimizer, [source.next(), source.next()], languageModelObjective(), { gradClip: 1 });
 * ```
 */
export function trainStep<M extends Module>(
  model: M,
  optimizer: Optimizer,
  batches: Iterable<BatchInput>,
  objective: Objective<M>,
  options: TrainStepOptions = {},
): TrainStepResult {
  const { gradClip = 0, lr } = options;
  checkStepArguments('trainStep', objective, options);
  model.zeroGrad();
  let result: ReturnType<typeof accumulateObjective> | undefined;
  let norm: Tensor | undefined;
  try {
    result = accumulateObjective(model, batches, objective, 'trainStep');
    const params = optimizer.namedParameters().map(([, p]) => p);
    norm = gradClip > 0 ? clipGradNorm(params, gradClip) : gradNorm(params);
    if (lr !== undefined) optimizer.lr = lr;
    optimizer.step();
    model.zeroGrad(); // gradients are not needed until the next step: free them now
    return { ...result, gradNorm: norm };
  } catch (error) {
    if (result) disposeWeightedMean(result);
    norm?.dispose();
    model.zeroGrad();
    throw error;
  }
}

/** Throws naming what is wrong with a step's objective or options; `who` names the caller. */
export function checkStepArguments(who: string, objective: unknown, options: TrainStepOptions): void {
  const { gradClip = 0, lr } = options;
  if (typeof objective !== 'function') {
    throw new TypeError(`${who}: objective must be a function (model, batch) → { loss, weight, metrics }`);
  }
  if (!(typeof gradClip === 'number' && gradClip >= 0 && Number.isFinite(gradClip))) {
    throw new RangeError(`${who}: gradClip must be a finite number ≥ 0, got ${String(gradClip)}`);
  }
  if (lr !== undefined && !(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0)) {
    throw new RangeError(`${who}: lr must be a finite number ≥ 0, got ${String(lr)}`);
  }
}
