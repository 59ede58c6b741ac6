// AdamW for TF.js, which has none: the decoupled update written with tf ops, operation for
// operation the same as @kiln/trainer's AdamW (itself following torch.optim.AdamW 1.13), so the
// peer does the same math as Kiln. Used by the tensor suite and the TF.js GPT.
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { TF } from './tfjs-setup.js';

export interface TfAdamWOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

export class TfAdamW {
  readonly #tf: TF;
  readonly #params: Variable[];
  readonly #m: Variable[];
  readonly #v: Variable[];
  readonly #options: TfAdamWOptions;
  #step = 0;

  constructor(tf: TF, params: Variable[], options: TfAdamWOptions) {
    this.#tf = tf;
    this.#params = params;
    this.#options = options;
    this.#m = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.#v = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  /** Updates every parameter in place from `grads` (same order as the parameters). */
  step(grads: readonly Tensor[]): void {
    const { lr, betas, eps, weightDecay } = this.#options;
    const [beta1, beta2] = betas;
    this.#step++;
    const biasCorrection1 = 1 - beta1 ** this.#step;
    const biasCorrection2 = 1 - beta2 ** this.#step;
    this.#tf.tidy(() => {
      this.#params.forEach((p, i) => {
        const [g, m, v] = [grads[i], this.#m[i], this.#v[i]];
        if (weightDecay !== 0) p.assign(p.mul(1 - lr * weightDecay));
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        const denominator = v.sqrt().div(Math.sqrt(biasCorrection2)).add(eps);
        p.assign(p.sub(m.div(denominator).mul(lr / biasCorrection1)));
      });
    });
  }

  dispose(): void {
    this.#tf.dispose([...this.#m, ...this.#v]);
  }
}
