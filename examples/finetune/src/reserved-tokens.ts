// Reserved tokens that pretraining never saw. The book has no ChatML markers, so the output
// rows of <|im_start|> and <|im_end|> were never a target: they keep their small random
// initialisation (norm ≈ 0.02·√d) while trained rows grow an order of magnitude larger. Full
// fine-tuning grows the <|im_end|> row; LoRA cannot, since the output layer is frozen, and
// through a row that small even a perfectly aligned hidden state gives the end-of-turn marker a
// lower logit than ordinary tokens. (Measured on the default base: LoRA's held-out loss stalled
// at 3.75 nats.) Setting those rows to the mean row does not help either: the mean is the
// direction every token shares, so raising it raises all logits together.
//
// So, as Hugging Face's `resize_token_embeddings` initialises new tokens, each such row is drawn
// from a normal distribution with the mean and covariance of the trained rows: a row of typical
// size in its own direction. It is done once, to the base both runs start from (a fair start,
// saved beside the runs so the LoRA adapter's base is on disk), and deterministically (seeded).
import { noGrad } from '@kiln/autograd';
import { tensor } from '@kiln/tensor';
import type { GPT } from '@kiln/transformer';

/** A seeded standard-normal generator (mulberry32 + Box–Muller), the same on every machine. */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * The lower-triangular L with L·Lᵀ = `a` (n × n, row-major, symmetric), with a small ridge added
 * to the diagonal so a covariance that is only positive semi-definite still factors.
 */
export function cholesky(a: Float64Array, n: number, ridge = 1e-6): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j] + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = i === j ? Math.sqrt(Math.max(s, 0)) : s / l[j * n + j];
    }
  }
  return l;
}

/**
 * Mean and covariance of the rows of `w` (`rows` × `d`, row-major) other than `skip`, and `count`
 * draws from the normal distribution they define.
 */
export function sampleLikeRows(
  w: ArrayLike<number>,
  rows: number,
  d: number,
  skip: ReadonlySet<number>,
  count: number,
  seed: number,
): Float32Array {
  const mean = new Float64Array(d);
  let n = 0;
  for (let r = 0; r < rows; r++) {
    if (skip.has(r)) continue;
    n++;
    for (let j = 0; j < d; j++) mean[j] += w[r * d + j];
  }
  if (n < 2) throw new RangeError('sampleLikeRows: need at least two rows to estimate a covariance');
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  for (let r = 0; r < rows; r++) {
    if (skip.has(r)) continue;
    for (let i = 0; i < d; i++) {
      const di = w[r * d + i] - mean[i];
      for (let j = 0; j <= i; j++) cov[i * d + j] += di * (w[r * d + j] - mean[j]);
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      cov[i * d + j] /= n - 1;
      cov[j * d + i] = cov[i * d + j];
    }
  }
  const l = cholesky(cov, d);
  const next = normals(seed);
  const out = new Float32Array(count * d);
  for (let c = 0; c < count; c++) {
    const z = Array.from({ length: d }, next);
    for (let i = 0; i < d; i++) {
      let v = mean[i];
      for (let k = 0; k <= i; k++) v += l[i * d + k] * z[k];
      out[c * d + i] = v;
    }
  }
  return out;
}

/**
 * Re-initialises the output-layer rows of `ids` (the head, or the token embedding when the head
 * is tied to it) from the distribution of the other rows (see the file comment). Returns the
 * row indices set.
 */
export async function initReservedOutputRows(
  model: GPT,
  ids: readonly number[],
  seed = 0,
): Promise<number[]> {
  const { vocabSize, dModel, tieEmbeddings } = model.config;
  const name = tieEmbeddings ? 'tokenEmbedding.weight' : 'head.weight';
  const weight = model.namedParameters().find(([n]) => n === name)?.[1];
  if (!weight) throw new Error(`initReservedOutputRows: the model has no parameter '${name}'`);
  const rows = [...new Set(ids)].sort((a, b) => a - b);
  for (const id of rows) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`initReservedOutputRows: ${id} is not a token id in [0, ${vocabSize})`);
    }
  }
  const values = sampleLikeRows(await weight.data(), vocabSize, dModel, new Set(rows), rows.length, seed);
  noGrad(() => {
    rows.forEach((id, i) => {
      const row = weight.slice(0, id, id + 1);
      const value = tensor(values.subarray(i * dModel, (i + 1) * dModel), {
        shape: [1, dModel],
        dtype: weight.dtype,
        backend: weight.backend,
      });
      row.assign(value);
      row.dispose();
      value.dispose();
    });
  });
  return rows;
}
