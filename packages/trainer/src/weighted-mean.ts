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

/** A weight as a 0-d float32 tensor on `like`'s backend. */
export function weightTensor(weight: number | Tensor, like: Tensor): Tensor {
  if (typeof weight === 'number') return full([], weight, { backend: like.backend });
  return weight.dtype === 'float32' ? weight.alias() : weight.cast('float32');
}

/**
 * `value × weight`, or 0 where the weight is 0, in `value`'s dtype. Recorded for autograd when
 * gradients are on (the training step runs backward from it).
 */
export function weighted(value: Tensor, weight: Tensor): Tensor {
  const w = weight.dtype === value.dtype ? weight : weight.cast(value.dtype);
  return where(weight.gt(0), value, 0).mul(w);
}

function asFloat32(value: Tensor | number, like: Tensor): Tensor {
  if (typeof value === 'number') return full([], value, { backend: like.backend });
  const scalar = value.ndim === 0 ? value : value.reshape([]);
  return scalar.dtype === 'float32' ? scalar.alias() : scalar.cast('float32');
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
        const loss = asFloat32(output.loss, output.loss);
        const weight = weightTensor(output.weight, output.loss);
        const metrics: Record<string, Tensor> = {};
        for (const [name, m] of Object.entries(output.metrics)) metrics[name] = asFloat32(m, output.loss);
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
      free(this.#first);
      this.#first = undefined;
    }
    const next = this.#weightedSums(values, this.#sums);
    free(values);
    free(this.#sums!);
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
      free(sums);
    }
    this.#first = undefined;
    this.#sums = undefined;
    this.#count = 0;
    this.#names = undefined;
    return out;
  }

  /** Frees what was accumulated without computing the means. */
  dispose(): void {
    if (this.#first) free(this.#first);
    if (this.#sums) free(this.#sums);
    this.#first = undefined;
    this.#sums = undefined;
    this.#count = 0;
  }
}

function free(values: { loss: Tensor; weight: Tensor; metrics: Record<string, Tensor> }): void {
  values.loss.dispose();
  values.weight.dispose();
  for (const m of Object.values(values.metrics)) m.dispose();
}
