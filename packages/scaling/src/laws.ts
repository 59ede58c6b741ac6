/**
 * Scaling laws as values: the loss L(N, D) of a model with N parameters trained on D tokens,
 * the compute-optimal split of a budget C ≈ 6·N·D, and iso-FLOP / iso-loss curves.
 *
 * - `CHINCHILLA_2022`: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models"
 *   (arXiv:2203.15556), Approach 3, eq. 10 as published: E = 1.69, A = 406.4, B = 410.7,
 *   α = 0.34, β = 0.28.
 * - `EPOCH_2024` (the default): Besiroglu, Erdil, Barnett, You 2024, "Chinchilla Scaling: A
 *   replication attempt" (arXiv:2404.10102), the refit of the same form to 240 points read off
 *   Hoffmann et al.'s Figure 4: E = 1.8172, A = 482.01, B = 2085.43, α = 0.3478, β = 0.3658
 *   (bootstrap standard errors 0.03, 124.58, 1293.23, 0.02, 0.02).
 * - `KAPLAN_2020`: Kaplan et al. 2020, "Scaling Laws for Neural Language Models"
 *   (arXiv:2001.08361): eq. 1.5, L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D with α_N = 0.076,
 *   α_D = 0.095, N_c = 8.8e13, D_c = 5.4e13 (N without embeddings, WebText2 tokens), and the
 *   compute-efficient allocation of Figure 14, N_opt = 1.3e9 · (C / PF-day)^0.73.
 *
 * Losses are in nats per token on each paper's own data and tokenizer: comparable within a law,
 * not across laws.
 */
import { checkPositive } from './count.js';

/** L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2). */
export interface ChinchillaLaw {
  kind: 'chinchilla';
  name: string;
  source: string;
  /** Irreducible loss (nats/token). */
  E: number;
  A: number;
  B: number;
  alpha: number;
  beta: number;
}

/** L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020, eq. 1.5), N without embeddings. */
export interface KaplanLaw {
  kind: 'kaplan';
  name: string;
  source: string;
  Nc: number;
  Dc: number;
  alphaN: number;
  alphaD: number;
  /** The published compute-efficient size N_opt = coefficient · (C / PF-day)^exponent. */
  optimalSize: { coefficient: number; exponent: number };
}

/** A law. */
export type ScalingLaw = ChinchillaLaw | KaplanLaw;

/** Hoffmann et al. 2022 as published. */
export const CHINCHILLA_2022: Readonly<ChinchillaLaw> = Object.freeze({
  kind: 'chinchilla',
  name: 'Chinchilla (Hoffmann et al. 2022)',
  source: 'https://arxiv.org/abs/2203.15556',
  E: 1.69,
  A: 406.4,
  B: 410.7,
  alpha: 0.34,
  beta: 0.28,
});

/** The Epoch AI refit (Besiroglu et al. 2024): the default law. */
export const EPOCH_2024: Readonly<ChinchillaLaw> = Object.freeze({
  kind: 'chinchilla',
  name: 'Epoch AI refit (Besiroglu et al. 2024)',
  source: 'https://arxiv.org/abs/2404.10102',
  E: 1.8172,
  A: 482.01,
  B: 2085.43,
  alpha: 0.3478,
  beta: 0.3658,
});

/** Kaplan et al. 2020. */
export const KAPLAN_2020: Readonly<KaplanLaw> = Object.freeze({
  kind: 'kaplan',
  name: 'Kaplan et al. 2020',
  source: 'https://arxiv.org/abs/2001.08361',
  Nc: 8.8e13,
  Dc: 5.4e13,
  alphaN: 0.076,
  alphaD: 0.095,
  optimalSize: Object.freeze({ coefficient: 1.3e9, exponent: 0.73 }),
});

/** The default law: the Epoch refit. */
export const DEFAULT_LAW: Readonly<ChinchillaLaw> = EPOCH_2024;

/** Every built-in law. */
export const LAWS: readonly Readonly<ScalingLaw>[] = Object.freeze([
  KAPLAN_2020,
  CHINCHILLA_2022,
  EPOCH_2024,
]);

/** FLOPs in a petaflop/s-day (Kaplan et al.'s compute unit). */
export const PF_DAY = 1e15 * 86400;

/** Predicted loss of N parameters trained on D tokens. */
export function lossAt(law: ScalingLaw, N: number, D: number): number {
  checkPositive('lossAt: N', N);
  checkPositive('lossAt: D', D);
  if (law.kind === 'kaplan') {
    return ((law.Nc / N) ** (law.alphaN / law.alphaD) + law.Dc / D) ** law.alphaD;
  }
  return law.E + law.A / N ** law.alpha + law.B / D ** law.beta;
}

/** A compute-optimal allocation. */
export interface ComputeOptimal {
  /** Compute budget (FLOPs). */
  C: number;
  /** Parameters. */
  N: number;
  /** Tokens, C / (flopsPerParameterToken · N). */
  D: number;
  /** D / N. */
  tokensPerParameter: number;
  /** lossAt(law, N, D). */
  loss: number;
}

/**
 * The loss-minimising split of C FLOPs (C = k·N·D, k = 6 by default). For E + A/N^α + B/D^β the
 * closed form of Hoffmann et al. (eq. 4): N_opt = G·(C/k)^(β/(α+β)), D_opt = (C/k)/N_opt,
 * G = (αA/(βB))^(1/(α+β)). For Kaplan's law it is the paper's own fitted allocation (their runs
 * stopped early, which is why it differs from minimising their L(N, D) at fixed C).
 */
export function computeOptimal(
  C: number,
  law: ScalingLaw = DEFAULT_LAW,
  flopsPerParameterToken = 6,
): ComputeOptimal {
  checkPositive('computeOptimal: C', C);
  checkPositive('computeOptimal: flopsPerParameterToken', flopsPerParameterToken);
  const ND = C / flopsPerParameterToken;
  let N: number;
  if (law.kind === 'kaplan') {
    N = law.optimalSize.coefficient * (C / PF_DAY) ** law.optimalSize.exponent;
  } else {
    const { A, B, alpha, beta } = law;
    if (!(alpha > 0 && beta > 0 && A > 0 && B > 0)) {
      throw new RangeError(
        `computeOptimal: the law needs A, B, α, β > 0 for an optimum (got A ${A}, B ${B}, α ${alpha}, β ${beta})`,
      );
    }
    const G = ((alpha * A) / (beta * B)) ** (1 / (alpha + beta));
    N = G * ND ** (beta / (alpha + beta));
  }
  const D = ND / N;
  return { C, N, D, tokensPerParameter: D / N, loss: lossAt(law, N, D) };
}

/** A point of an iso-FLOP curve. */
export interface CurvePoint {
  N: number;
  D: number;
  loss: number;
  /** flopsPerParameterToken · N · D. */
  C: number;
}

/** Options of the curve functions: the N range (log-spaced) and the number of points. */
export interface CurveOptions {
  minN: number;
  maxN: number;
  /** Default 50. */
  points?: number;
  /** Default 6. */
  flopsPerParameterToken?: number;
}

function logSpace(min: number, max: number, points: number): number[] {
  checkPositive('minN', min);
  checkPositive('maxN', max);
  if (!(max > min)) throw new RangeError(`maxN (${max}) must be greater than minN (${min})`);
  if (!(Number.isInteger(points) && points >= 2))
    throw new RangeError(`points must be an integer ≥ 2, got ${points}`);
  const [a, b] = [Math.log(min), Math.log(max)];
  return Array.from({ length: points }, (_, i) => Math.exp(a + ((b - a) * i) / (points - 1)));
}

/** Loss along a fixed budget C as N varies (D = C / (k·N)): the U-shaped curve of an isoFLOP sweep. */
export function isoFlopCurve(C: number, law: ScalingLaw, options: CurveOptions): CurvePoint[] {
  checkPositive('isoFlopCurve: C', C);
  const k = options.flopsPerParameterToken ?? 6;
  return logSpace(options.minN, options.maxN, options.points ?? 50).map((N) => {
    const D = C / (k * N);
    return { N, D, loss: lossAt(law, N, D), C };
  });
}

/**
 * The (N, D) pairs that reach `loss` (D solved from the law), with their compute; N where the
 * loss is out of reach at any D are left out.
 */
export function isoLossCurve(loss: number, law: ScalingLaw, options: CurveOptions): CurvePoint[] {
  checkPositive('isoLossCurve: loss', loss);
  const k = options.flopsPerParameterToken ?? 6;
  const out: CurvePoint[] = [];
  for (const N of logSpace(options.minN, options.maxN, options.points ?? 50)) {
    let D: number;
    if (law.kind === 'kaplan') {
      const rest = loss ** (1 / law.alphaD) - (law.Nc / N) ** (law.alphaN / law.alphaD);
      D = rest > 0 ? law.Dc / rest : Number.NaN;
    } else {
      const rest = loss - law.E - law.A / N ** law.alpha;
      D = rest > 0 ? (law.B / rest) ** (1 / law.beta) : Number.NaN;
    }
    if (Number.isFinite(D) && D > 0) out.push({ N, D, loss, C: k * N * D });
  }
  return out;
}

/** The compute-optimal exponents of a Chinchilla-form law: N_opt ∝ C^a, D_opt ∝ C^b (a + b = 1). */
export function optimalExponents(law: ChinchillaLaw): { a: number; b: number } {
  const a = law.beta / (law.alpha + law.beta);
  return { a, b: 1 - a };
}
