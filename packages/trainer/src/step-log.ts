/**
 * Per-step values kept on the device until the trainer logs. The loss, weight, gradient norm and
 * metrics of every step are 0-d tensors; reading each back would stall the device after every
 * step, so they are collected here and read back together, in one transfer, at each log
 * interval (and before every evaluation and checkpoint, so a checkpoint is only written after
 * its steps were checked for NaN and infinity).
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
  /** Training loss of the step: its micro-batches' losses averaged by weight. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Total weight of the step's micro-batches (target tokens for language modelling). */
  weight: number;
  /** Training tokens processed up to and including this step. */
  tokens: number;
  /** The source's epoch after the step, when it reports one. */
  epoch?: number;
  /** The objective's metrics of the step (empty for steps whose metrics were not kept). */
  metrics: Record<string, number>;
  /** Mixed precision: the loss scale the step used. */
  lossScale?: number;
  /** Mixed precision: true when the step's gradients overflowed and the optimizer did not step. */
  skipped?: boolean;
}

/** One step's device values, as {@link StepLog.push} takes them (the log takes ownership of the tensors). */
export interface PendingStep {
  step: number;
  lr: number;
  tokens: number;
  epoch?: number;
  loss: Tensor;
  gradNorm: Tensor;
  weight: Tensor;
  metrics?: Readonly<Record<string, Tensor>>;
  /**
   * Mixed precision: the step's loss scale and whether it was skipped (1 or 0; its gradient norm
   * is then not finite, by definition), as 0-d float32 device tensors, both or neither.
   */
  mixed?: { lossScale: Tensor; skipped: Tensor };
}

/** Collects per-step device values and reads them back in one batch, checking they are finite. */
export class StepLog {
  #pending: PendingStep[] = [];

  /** Number of steps waiting to be read back. */
  get size(): number {
    return this.#pending.length;
  }

  /** Adds a step's 0-d values; the log takes ownership of every tensor in it. */
  push(step: PendingStep): void {
    this.#pending.push(step);
  }

  /** Reads every pending step back in one transfer, frees the tensors and returns the values in step order. */
  async read(): Promise<StepValues[]> {
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length === 0) return [];
    let host: ArrayLike<number>;
    try {
      const all = noGrad(() =>
        scope(() => stack(pending.flatMap((p) => tensorsOf(p).map((t) => t.reshape([]))))),
      );
      try {
        host = await all.data();
      } finally {
        all.dispose();
      }
    } finally {
      free(pending);
    }
    let at = 0;
    return pending.map((p) => {
      const [loss, gradNorm, weight] = [host[at], host[at + 1], host[at + 2]];
      at += 3;
      const metrics: Record<string, number> = {};
      for (const name of Object.keys(p.metrics ?? {})) metrics[name] = host[at++];
      const mixed = p.mixed && { lossScale: host[at], skipped: host[at + 1] !== 0 };
      if (p.mixed) at += 2;
      const values: StepValues = {
        step: p.step,
        lr: p.lr,
        loss,
        gradNorm,
        weight,
        tokens: p.tokens,
        metrics,
      };
      if (p.epoch !== undefined) values.epoch = p.epoch;
      if (mixed) values.lossScale = mixed.lossScale;
      if (mixed?.skipped) values.skipped = true;
      return values;
    });
  }

  /** Frees pending tensors without reading them. */
  dispose(): void {
    free(this.#pending);
    this.#pending = [];
  }
}

/** A step's tensors in read-back order: loss, gradient norm, weight, the metrics, then the mixed-precision pair. */
function tensorsOf(p: PendingStep): Tensor[] {
  const metrics = Object.values(p.metrics ?? {}).map((m) => (m.dtype === 'float32' ? m : m.cast('float32')));
  const mixed = p.mixed ? [p.mixed.lossScale, p.mixed.skipped] : [];
  return [p.loss, p.gradNorm, p.weight, ...metrics, ...mixed];
}

function free(pending: readonly PendingStep[]): void {
  for (const p of pending) {
    p.loss.dispose();
    p.gradNorm.dispose();
    p.weight.dispose();
    for (const m of Object.values(p.metrics ?? {})) m.dispose();
    p.mixed?.lossScale.dispose();
    p.mixed?.skipped.dispose();
  }
}

/**
 * Index of the first step whose loss or gradient norm is NaN or infinite, or whose weight is 0
 * (nothing to learn from: every target was ignored), or -1. A step skipped by mixed precision's
 * loss scaling has an infinite gradient norm by definition, so only its loss is checked.
 */
export function firstNonFinite(values: readonly StepValues[]): number {
  return values.findIndex(
    (v) => !Number.isFinite(v.loss) || (!v.skipped && !Number.isFinite(v.gradNorm)) || v.weight === 0,
  );
}

/** The {@link NonFiniteError} for a bad step found by {@link firstNonFinite}; `hint` ends the message. */
export function nonFiniteStepError(bad: StepValues, hint: string): NonFiniteError {
  if (bad.weight === 0) {
    return new NonFiniteError(
      `training stopped at step ${bad.step}: its micro-batches have a total weight of 0 (every target is ignored), so there is no loss to learn from; check the data's masking (targets of -100). ${hint}`.trim(),
      bad.step,
      ['weight'],
    );
  }
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
