/**
 * The weighted mean of objective outputs over micro-batches, kept on the device: Σ value × weight
 * / Σ weight for the loss and each metric. A batch of weight 0 adds nothing, even when its
 * values are NaN (an all-masked batch's mean loss is 0/0). With one batch the mean is that
 * batch's values exactly (no multiply and divide to round them).
 */
import { noGrad } from '@kiln/autograd';
import { full, keep, scope, type Tensor, where } from '@kiln/tensor';
import type { CheckedOutput } from './objective.js';

/** The device result of a {@link WeightedMean}: 0-d float32 tensors the caller owns. */
export interface WeightedMeanResult {
  /** The weighted mean loss (NaN when the total weight is 0). */
  loss: Tensor;
  /** The total weight. */
  weight: Tensor;
  /** The weighted mean of each metric. */
  metrics: Record<string, Tensor>;
}

/** A number or single-number tensor (a weight, a loss, a metric) as a 0-d float32 tensor on `like`'s backend. */
export function scalarFloat32(value: number | Tensor, like: Tensor): Tensor {
  if (typeof value === 'number') return full([], value, { backend: like.backend });
  const scalar = value.ndim === 0 ? value : value.reshape([]);
  return scalar.dtype === 'float32' ? scalar.alias() : scalar.cast('float32');
}

/**
 * `value × weight`, or 0 where the weight is 0, in `value`'s dtype. Recorded for autograd when
 * gradients are on (the training step runs backward from it).
 */
export function weighted(value: Tensor, weight: Tensor): Tensor {
  const w = weight.dtype === value.dtype ? weight : weight.cast(value.dtype);
  return where(weight.gt(0), value, 0).mul(w);
}

/** Accumulates {@link CheckedOutput}s; see the file comment. */
export class WeightedMean {
  #count = 0;
  /** The only batch's values, until a second arrives. */
  #first: { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> } | undefined;
  /** Σ value × weight (loss and metrics) and Σ weight, from the second batch on. */
  #sums: { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> } | undefined;
  #names: string | undefined;

  /** Batches added so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds one batch's output (its values are read, detached from the graph, not kept). */
  add(output: CheckedOutput, who: string): void {
    const names = Object.keys(output.metrics).sort().join(', ');
    if (this.#names !== undefined && names !== this.#names) {
      throw new TypeError(
        `${who}: the objective returned metrics [${names}] for batch ${this.#count}, but [${this.#names}] for the first; return the same metrics for every batch`,
      );
    }
    this.#names = names;
    const values = noGrad(() =>
      scope(() => {
        const loss = scalarFloat32(output.loss, output.loss);
        const weight = scalarFloat32(output.weight, output.loss);
        const metrics: Record<string, Tensor> = {};
        for (const [name, m] of Object.entries(output.metrics)) metrics[name] = scalarFloat32(m, output.loss);
        return { loss, weight, metrics };
      }),
    );
    keep(values);
    this.#count++;
    if (this.#count === 1) {
      this.#first = values;
      return;
    }
    if (this.#first) {
      this.#sums = this.#weightedSums(this.#first);
      disposeWeightedMean(this.#first);
      this.#first = undefined;
    }
    const next = this.#weightedSums(values, this.#sums);
    disposeWeightedMean(values);
    disposeWeightedMean(this.#sums!);
    this.#sums = next;
  }

  /** `previous` plus the batch's weighted values. */
  #weightedSums(
    batch: { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> },
    previous?: { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> },
  ): { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> } {
    return keep(
      noGrad(() =>
        scope(() => {
          const plus = (sum: Tensor | undefined, x: Tensor) => (sum ? sum.add(x) : x);
          const metrics: Record<string, Tensor> = {};
          for (const [name, m] of Object.entries(batch.metrics))
            metrics[name] = plus(previous?.metrics[name], weighted(m, batch.weight));
          return {
            loss: plus(previous?.loss, weighted(batch.loss, batch.weight)),
            weight: plus(previous?.weight, batch.weight.alias()),
            metrics,
          };
        }),
      ),
    );
  }

  /** The means (the caller owns them) and resets the accumulator. Throws when nothing was added. */
  result(who: string): WeightedMeanResult {
    if (this.#count === 0) throw new RangeError(`${who}: there were no batches`);
    let out: WeightedMeanResult;
    if (this.#first) {
      out = this.#first;
    } else {
      const sums = this.#sums!;
      out = keep(
        noGrad(() =>
          scope(() => {
            const metrics: Record<string, Tensor> = {};
            for (const [name, m] of Object.entries(sums.metrics)) metrics[name] = m.div(sums.weight);
            return { loss: sums.loss.div(sums.weight), weight: sums.weight.alias(), metrics };
          }),
        ),
      );
      disposeWeightedMean(sums);
    }
    this.#first = undefined;
    this.#sums = undefined;
    this.#count = 0;
    this.#names = undefined;
    return out;
  }

  /** Frees what was accumulated without computing the means. */
  dispose(): void {
    if (this.#first) disposeWeightedMean(this.#first);
    if (this.#sums) disposeWeightedMean(this.#sums);
    this.#first = undefined;
    this.#sums = undefined;
    this.#count = 0;
  }
}

/** Disposes a {@link WeightedMeanResult} (or the accumulator's own values of the same shape). */
export function disposeWeightedMean(values: WeightedMeanResult): void {
  values.loss.dispose();
  values.weight.dispose();
  for (const m of Object.values(values.metrics)) m.dispose();
}
