/**
 * Per-step values kept on the device until the trainer logs. The loss and gradient norm of
 * every step are 0-d tensors; reading each back would stall the device after every step, so
 * they are collected here and read back together, in one transfer, at each log interval (and
 * before every evaluation and checkpoint, so a checkpoint is only written after its steps were
 * checked for NaN and infinity).
 */
import { noGrad } from '@kiln/autograd';
import { scope, stack, type Tensor } from '@kiln/tensor';
import { describeValue, NonFiniteError } from './non-finite.js';

/** One step's values, read back. */
export interface StepValues {
  /** Optimizer steps completed after this step (1-based). */
  step: number;
  /** Learning rate used by the step. */
  lr: number;
  /** Mean training loss over the step's micro-batches. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

interface Pending {
  step: number;
  lr: number;
  loss: Tensor;
  gradNorm: Tensor;
}

/** Collects per-step device values and reads them back in one batch, checking they are finite. */
export class StepLog {
  #pending: Pending[] = [];

  /** Number of steps waiting to be read back. */
  get size(): number {
    return this.#pending.length;
  }

  /** Adds a step's 0-d `loss` and `gradNorm`; the log takes ownership of both tensors. */
  push(step: number, lr: number, loss: Tensor, gradNorm: Tensor): void {
    this.#pending.push({ step, lr, loss, gradNorm });
  }

  /** Reads every pending step back in one transfer, frees the tensors and returns the values in step order. */
  async read(): Promise<StepValues[]> {
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length === 0) return [];
    let host: ArrayLike<number>;
    try {
      const all = noGrad(() =>
        scope(() => stack(pending.flatMap((p) => [p.loss.reshape([]), p.gradNorm.reshape([])]))),
      );
      try {
        host = await all.data();
      } finally {
        all.dispose();
      }
    } finally {
      free(pending);
    }
    return pending.map((p, i) => ({ step: p.step, lr: p.lr, loss: host[2 * i], gradNorm: host[2 * i + 1] }));
  }

  /** Frees pending tensors without reading them. */
  dispose(): void {
    free(this.#pending);
    this.#pending = [];
  }
}

function free(pending: readonly Pending[]): void {
  for (const p of pending) {
    p.loss.dispose();
    p.gradNorm.dispose();
  }
}

/** Index of the first step whose loss or gradient norm is NaN or infinite, or -1. */
export function firstNonFinite(values: readonly StepValues[]): number {
  return values.findIndex((v) => !Number.isFinite(v.loss) || !Number.isFinite(v.gradNorm));
}

/** The {@link NonFiniteError} for a step with a non-finite loss or gradient norm; `hint` ends the message. */
export function nonFiniteStepError(bad: StepValues, hint: string): NonFiniteError {
  const what = [
    ...(Number.isFinite(bad.loss) ? [] : ['loss']),
    ...(Number.isFinite(bad.gradNorm) ? [] : ['gradNorm']),
  ];
  return new NonFiniteError(
    `training stopped at step ${bad.step}: the training loss is ${describeValue(bad.loss)} and the gradient norm is ${describeValue(bad.gradNorm)} (learning rate ${bad.lr.toExponential(3)}). ${hint}`.trim(),
    bad.step,
    what,
  );
}
