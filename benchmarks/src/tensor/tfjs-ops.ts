// The tensor-suite workloads written with TF.js (WebGPU backend), mirroring kiln-ops.ts op for
// op: same shapes, same math, the library's own ops at their default settings.
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import { TfAdamW } from './tfjs-adamw.js';
import type { TF } from './tfjs-setup.js';
import { ADAMW, ATTENTION, COPY_SHAPE, OVERHEAD_CHAIN, ROWS_SHAPE } from './workloads.js';

/** A prepared workload: `run()` does one timed sample; `dispose()` frees its inputs. */
export interface Prepared {
  run(): Promise<void>;
  dispose(): void;
}

/** Reads back one element of `t`; resolves once the device has finished everything before it. */
export async function readOne(tf: TF, t: Tensor): Promise<void> {
  const one = tf.tidy(() => t.reshape([-1]).slice(0, 1));
  await one.data();
  one.dispose();
}

function repeat(tf: TF, op: () => Tensor, reps: number): () => Promise<void> {
  return async () => {
    let last: Tensor | null = null;
    for (let i = 0; i < reps; i++) {
      last?.dispose();
      last = op();
    }
    await readOne(tf, last!);
    last!.dispose();
  };
}

export function matmul(tf: TF, n: number, reps: number): Prepared {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  return { run: repeat(tf, () => tf.matMul(a, b), reps), dispose: () => tf.dispose([a, b]) };
}

export function softmax(tf: TF, reps: number): Prepared {
  const x = tf.randomNormal([...ROWS_SHAPE]);
  return { run: repeat(tf, () => tf.softmax(x, -1), reps), dispose: () => x.dispose() };
}

export function add(tf: TF, reps: number): Prepared {
  const x = tf.randomNormal([...ROWS_SHAPE]);
  const y = tf.randomNormal([...ROWS_SHAPE]);
  return { run: repeat(tf, () => tf.add(x, y), reps), dispose: () => tf.dispose([x, y]) };
}

/**
 * LayerNorm two ways, since TF.js has no layerNorm op: `ops` is the composition a TF.js model
 * writes (tf.moments, then normalise, scale and shift; what tfjs-gpt.ts uses), `layer` is
 * tf.layers.layerNormalization applied eagerly. Gamma and beta random in both.
 */
export function layerNorm(tf: TF, reps: number): { ops: Prepared; layer: Prepared } {
  const n = ROWS_SHAPE[1];
  const x = tf.randomNormal([...ROWS_SHAPE]);
  const gamma = tf.randomNormal([n]);
  const beta = tf.randomNormal([n]);
  const composed = () =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      return x
        .sub(mean)
        .mul(tf.rsqrt(variance.add(1e-5)))
        .mul(gamma)
        .add(beta);
    });
  const layer = tf.layers.layerNormalization({
    axis: -1,
    epsilon: 1e-5,
    gammaInitializer: 'randomNormal',
    betaInitializer: 'randomNormal',
  });
  layer.build([null, n]);
  return {
    ops: { run: repeat(tf, composed, reps), dispose: () => {} },
    // (layer.dispose() refuses a layer only ever applied eagerly; the process ends right after)
    layer: {
      run: repeat(tf, () => layer.apply(x) as Tensor, reps),
      dispose: () => tf.dispose([x, gamma, beta]),
    },
  };
}

/** Causal attention forward and gradients w.r.t. q, k, v via tf.valueAndGrads of Σ(out · dOut). */
export function attention(tf: TF): Prepared {
  const { B, H, T, D } = ATTENTION;
  const q = tf.randomNormal([B, H, T, D]);
  const k = tf.randomNormal([B, H, T, D]);
  const v = tf.randomNormal([B, H, T, D]);
  const dOut = tf.randomNormal([B, H, T, D]);
  // -1e9 above the diagonal (same constant as the Kiln version)
  const mask = tf.tidy(() => tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)).mul(-1e9));
  const scale = 1 / Math.sqrt(D);
  const loss = (qq: Tensor, kk: Tensor, vv: Tensor) =>
    tf.sum(
      tf.mul(
        tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(qq, kk, false, true), scale), mask), -1), vv),
        dOut,
      ),
    );
  const step = tf.valueAndGrads((...xs: Tensor[]) => loss(xs[0], xs[1], xs[2]) as Scalar);
  return {
    run: async () => {
      const { value, grads } = step([q, k, v]);
      await readOne(tf, grads[0]);
      tf.dispose([value, ...grads]);
    },
    dispose: () => tf.dispose([q, k, v, dOut, mask]),
  };
}

/** AdamW over 10 parameters of 1M elements with fixed gradients (see tfjs-adamw.ts). */
export function adamw(tf: TF): Prepared {
  const shape = [...ADAMW.shape];
  const params = Array.from({ length: ADAMW.tensors }, () => tf.variable(tf.randomNormal(shape)));
  const grads = params.map(() => tf.randomNormal(shape, 0, 0.01));
  const opt = new TfAdamW(tf, params, { lr: 1e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
  return {
    run: async () => {
      opt.step(grads);
      await readOne(tf, params[params.length - 1]);
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([...params, ...grads]);
    },
  };
}

/** TF.js's built-in Adam (no weight decay) on the same parameters: its own optimizer path, for reference. */
export function adam(tf: TF): Prepared {
  const shape = [...ADAMW.shape];
  const params: Variable[] = Array.from({ length: ADAMW.tensors }, (_, i) =>
    tf.variable(tf.randomNormal(shape), true, `p${i}`),
  );
  const grads = params.map((p) => ({ name: p.name, tensor: tf.randomNormal(shape, 0, 0.01) }));
  const opt = tf.train.adam(1e-3, 0.9, 0.95, 1e-8);
  return {
    run: async () => {
      opt.applyGradients(grads);
      await readOne(tf, params[params.length - 1]);
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([...params, ...grads.map((g) => g.tensor)]);
    },
  };
}

/** Transposed copy of a 4096² matrix (TF.js has no plain device copy: clone shares the buffer). */
export function transposedCopy(tf: TF, reps: number): Prepared {
  const src = tf.randomNormal([...COPY_SHAPE]);
  return { run: repeat(tf, () => tf.transpose(src), reps), dispose: () => src.dispose() };
}

/** Same probes as kiln-ops.ts `overhead`. */
export function overhead(tf: TF): { roundTrip: Prepared; chain: Prepared } {
  const x = tf.zeros([4096]);
  const one = tf.ones([4096]);
  return {
    roundTrip: { run: repeat(tf, () => tf.add(x, one), 1), dispose: () => {} },
    chain: {
      run: async () => {
        let y = tf.add(x, one);
        for (let i = 1; i < OVERHEAD_CHAIN; i++) {
          const next = tf.add(y, one);
          y.dispose();
          y = next;
        }
        await readOne(tf, y);
        y.dispose();
      },
      dispose: () => tf.dispose([x, one]),
    },
  };
}
