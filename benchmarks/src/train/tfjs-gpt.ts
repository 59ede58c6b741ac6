// The benchmark's GPT written with TF.js ops: the same architecture and initialisation as
// @kiln/transformer's `gpt2` family and scripts/reference/gpt.py — token embedding + learned
// positions, pre-norm blocks of LayerNorm, causal multi-head attention (q, k, v fused in one
// projection), GELU (tanh) MLP of 4·d, a final LayerNorm and a head tied to the token embedding.
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { TF } from '../tensor/tfjs-setup.js';
import { MODEL } from './config.js';

interface BlockParams {
  ln1g: Variable;
  ln1b: Variable;
  wqkv: Variable; // [d, 3d]
  bqkv: Variable;
  wo: Variable; // [d, d]
  bo: Variable;
  ln2g: Variable;
  ln2b: Variable;
  wfc: Variable; // [d, 4d]
  bfc: Variable;
  wproj: Variable; // [4d, d]
  bproj: Variable;
}

export class TfGpt {
  readonly #tf: TF;
  readonly wte: Variable; // [vocab, d], also the head
  readonly wpe: Variable; // [context, d]
  readonly blocks: BlockParams[];
  readonly lnfg: Variable;
  readonly lnfb: Variable;
  readonly #mask: Tensor;

  constructor(tf: TF) {
    this.#tf = tf;
    const { vocabSize: V, contextLength: T, nLayers: L, dModel: d } = MODEL;
    // (inside tidy, so the initial values do not outlive the variables made from them)
    const normal = (shape: number[], std = 0.02) =>
      tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, std)));
    const zeros = (n: number) => tf.tidy(() => tf.variable(tf.zeros([n])));
    const ones = (n: number) => tf.tidy(() => tf.variable(tf.ones([n])));
    // residual output projections scaled by 1/√(2·layers), as nanoGPT, Kiln and gpt.py
    const residualStd = 0.02 / Math.sqrt(2 * L);
    this.wte = normal([V, d]);
    this.wpe = normal([T, d]);
    this.blocks = Array.from({ length: L }, () => ({
      ln1g: ones(d),
      ln1b: zeros(d),
      wqkv: normal([d, 3 * d]),
      bqkv: zeros(3 * d),
      wo: normal([d, d], residualStd),
      bo: zeros(d),
      ln2g: ones(d),
      ln2b: zeros(d),
      wfc: normal([d, 4 * d]),
      bfc: zeros(4 * d),
      wproj: normal([4 * d, d], residualStd),
      bproj: zeros(d),
    }));
    this.lnfg = ones(d);
    this.lnfb = zeros(d);
    // additive causal mask: −1e9 above the diagonal
    this.#mask = tf.tidy(() => tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)).mul(-1e9));
  }

  variables(): Variable[] {
    return [this.wte, this.wpe, ...this.blocks.flatMap((b) => Object.values(b)), this.lnfg, this.lnfb];
  }

  numParameters(): number {
    return this.variables().reduce((n, v) => n + v.size, 0);
  }

  #layerNorm(x: Tensor, g: Tensor, b: Tensor): Tensor {
    const tf = this.#tf;
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(1e-5)))
      .mul(g)
      .add(b);
  }

  #gelu(x: Tensor): Tensor {
    const tf = this.#tf;
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(0.5).mul(tf.tanh(inner).add(1));
  }

  /** Mean cross-entropy of next-token predictions; ids and targets int32 [B, T]. Call inside a tidy. */
  loss(ids: Tensor, targets: Tensor): Scalar {
    const tf = this.#tf;
    const [B, T] = ids.shape;
    const { nHeads: H, dModel: d, vocabSize: V } = MODEL;
    const hd = d / H;
    let x = tf.gather(this.wte, ids).add(this.wpe.slice([0, 0], [T, d])); // [B, T, d]
    for (const p of this.blocks) {
      const h = this.#layerNorm(x, p.ln1g, p.ln1b).reshape([B * T, d]);
      const qkv = tf.matMul(h, p.wqkv).add(p.bqkv).reshape([B, T, 3, H, hd]).transpose([2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv); // each [B, H, T, hd]
      const scores = tf
        .matMul(q, k, false, true)
        .mul(1 / Math.sqrt(hd))
        .add(this.#mask);
      const y = tf
        .matMul(tf.softmax(scores, -1), v)
        .transpose([0, 2, 1, 3])
        .reshape([B * T, d]);
      x = x.add(tf.matMul(y, p.wo).add(p.bo).reshape([B, T, d]));
      const h2 = this.#layerNorm(x, p.ln2g, p.ln2b).reshape([B * T, d]);
      const m = tf.matMul(this.#gelu(tf.matMul(h2, p.wfc).add(p.bfc)), p.wproj).add(p.bproj);
      x = x.add(m.reshape([B, T, d]));
    }
    const hidden = this.#layerNorm(x, this.lnfg, this.lnfb).reshape([B * T, d]);
    const logits = tf.matMul(hidden, this.wte, false, true) as Tensor2D; // tied head
    const labels = tf.oneHot(targets.reshape([B * T]) as Tensor1D, V);
    return tf.losses.softmaxCrossEntropy(labels, logits) as Scalar;
  }
}
