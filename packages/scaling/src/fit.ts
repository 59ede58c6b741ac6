/**
 * Fitting scaling laws the way Hoffmann et al. 2022 (Approach 3) and Besiroglu et al. 2024 do:
 * the law is written in log space as a log-sum-exp,
 *
 *   log L̂(N, D) = LSE(a − α·log N, b − β·log D, e),   A = eᵃ, B = eᵇ, E = eᵉ,
 *
 * which keeps A, B, E positive and the problem well scaled; the objective is the Huber loss
 * (δ = 1e-3) of log L̂ − log L summed over the runs (robust to outliers); it is minimised with
 * L-BFGS (analytic gradients) from every start of a grid of initialisations, keeping the best.
 * Confidence intervals come from refitting bootstrap resamples of the runs.
 *
 * The single-variable form `L(x) = E + A/x^α` (loss against compute, or against N at
 * convergence) is fitted the same way with LSE(a − α·log x, e).
 */

import type { ChinchillaLaw } from './laws.js';
import { minimizeLbfgs } from './lbfgs.js';
import { SeededRandom } from './random.js';

/** One run for a two-variable fit: N parameters, D tokens, final loss. */
export interface LossPoint {
  N: number;
  D: number;
  loss: number;
}

/** One observation for a single-variable power law: x (compute, parameters, …) and loss. */
export interface PowerPoint {
  x: number;
  loss: number;
}

/** L(x) = E + A/x^α. */
export interface PowerLaw {
  kind: 'power';
  E: number;
  A: number;
  alpha: number;
}

/** Options of {@link fitScalingLaw}. */
export interface FitOptions {
  /** `chinchilla` (default): E + A/N^α + B/D^β over {@link LossPoint}s; `power`: E + A/x^α over {@link PowerPoint}s. */
  form?: 'chinchilla' | 'power';
  /** Huber threshold on log-loss residuals (default 1e-3, as the papers). */
  delta?: number;
  /**
   * Initial values per parameter, every combination tried. Default (Besiroglu et al.'s grid):
   * a, b ∈ {0, 5, …, 25}, e ∈ {−1, −0.5, …, 1}, α, β ∈ {0, 0.5, …, 2} (4,500 starts); for the
   * power form a ∈ {0, 5, …, 25}, e ∈ {−1, …, 1}, α ∈ {0, …, 2}.
   */
  grid?: Partial<Record<'a' | 'b' | 'e' | 'alpha' | 'beta', readonly number[]>>;
  /** Drop the k runs with the highest loss before fitting (Besiroglu et al. drop 5). Default 0. */
  excludeHighestLoss?: number;
  /** Bootstrap resamples for confidence intervals (default 0: none). */
  bootstrap?: number;
  /** Central interval mass (default 0.95). */
  confidence?: number;
  /** Seed of the bootstrap resampling (default 0). */
  seed?: number;
  /** L-BFGS iterations per start (default 1000). */
  maxIterations?: number;
}

/** Fitted values of a law's coefficients, by name. */
export type Coefficients<K extends string> = Record<K, number>;

/** A finished fit. */
export interface Fit<L, K extends string> {
  /** The fitted law. */
  law: L;
  /** The log-space parameters at the optimum (a, b, e, α, β or a, e, α). */
  theta: Record<string, number>;
  /** Huber objective at the optimum (sum over the runs used). */
  objective: number;
  /** Grid starts tried, and how many of them converged. */
  starts: number;
  converged: number;
  /** Runs used after exclusion. */
  pointsUsed: number;
  /** Runs dropped by `excludeHighestLoss`. */
  excluded: number;
  /** Bootstrap percentile intervals `[lo, hi]` per coefficient (with `bootstrap`). */
  intervals?: Record<K, [number, number]>;
  /** Bootstrap standard deviations per coefficient (with `bootstrap`). */
  standardErrors?: Coefficients<K>;
  /** The bootstrap fits' laws (with `bootstrap`), e.g. for intervals of a prediction. */
  samples?: L[];
}

/** A fit of E + A/N^α + B/D^β. */
export type ChinchillaFit = Fit<ChinchillaLaw, 'E' | 'A' | 'B' | 'alpha' | 'beta'>;
/** A fit of E + A/x^α. */
export type PowerFit = Fit<PowerLaw, 'E' | 'A' | 'alpha'>;

const EPOCH_GRID = {
  a: [0, 5, 10, 15, 20, 25],
  b: [0, 5, 10, 15, 20, 25],
  e: [-1, -0.5, 0, 0.5, 1],
  alpha: [0, 0.5, 1, 1.5, 2],
  beta: [0, 0.5, 1, 1.5, 2],
};

/** One LSE term: θ[coef] − θ[exponent]·features[feature] (or just θ[coef]). */
interface Term {
  coef: number;
  exponent?: number;
  feature?: number;
}

interface Problem {
  /** Parameter names in θ order. */
  names: string[];
  terms: Term[];
  /** Per point: its log features. */
  features: Float64Array[];
  /** Per point: log loss. */
  target: Float64Array;
}

/** The Huber objective of the LSE model and its gradient (analytic). */
function objective(problem: Problem, indices: Int32Array, delta: number) {
  const { terms, features, target } = problem;
  const u = new Float64Array(terms.length);
  return (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let total = 0;
    for (let p = 0; p < indices.length; p++) {
      const i = indices[p];
      const x = features[i];
      let m = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < terms.length; k++) {
        const t = terms[k];
        u[k] = theta[t.coef] - (t.exponent === undefined ? 0 : theta[t.exponent] * x[t.feature!]);
        if (u[k] > m) m = u[k];
      }
      let s = 0;
      for (let k = 0; k < terms.length; k++) {
        u[k] = Math.exp(u[k] - m);
        s += u[k];
      }
      const r = m + Math.log(s) - target[i];
      const abs = Math.abs(r);
      total += abs <= delta ? 0.5 * r * r : delta * (abs - 0.5 * delta);
      const h = abs <= delta ? r : delta * Math.sign(r); // Huber derivative
      for (let k = 0; k < terms.length; k++) {
        const t = terms[k];
        const w = (h * u[k]) / s; // softmax weight of term k times h
        grad[t.coef] += w;
        if (t.exponent !== undefined) grad[t.exponent] -= w * x[t.feature!];
      }
    }
    return total;
  };
}

function product(lists: readonly (readonly number[])[]): number[][] {
  let out: number[][] = [[]];
  for (const list of lists) out = out.flatMap((prefix) => list.map((v) => [...prefix, v]));
  return out;
}

/** The best L-BFGS result over the starts. */
function bestOf(
  problem: Problem,
  indices: Int32Array,
  starts: readonly (readonly number[])[],
  delta: number,
  maxIterations: number,
): { theta: Float64Array; value: number; converged: number } {
  const f = objective(problem, indices, delta);
  let best: { theta: Float64Array; value: number } | null = null;
  let converged = 0;
  for (const start of starts) {
    const r = minimizeLbfgs(f, start, { maxIterations });
    if (r.converged) converged++;
    if (Number.isFinite(r.value) && (best === null || r.value < best.value))
      best = { theta: r.x, value: r.value };
  }
  if (!best)
    throw new Error(
      'fitScalingLaw: no start gave a finite objective; check the points (positive N, D, loss)',
    );
  return { ...best, converged };
}

function checkNumber(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`fitScalingLaw: ${what} must be a positive finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function percentile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summarise<K extends string>(values: Coefficients<K>[], keys: readonly K[], confidence: number) {
  const intervals = {} as Record<K, [number, number]>;
  const standardErrors = {} as Coefficients<K>;
  for (const key of keys) {
    const v = values.map((x) => x[key]).sort((p, q) => p - q);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, v.length - 1);
    intervals[key] = [percentile(v, (1 - confidence) / 2), percentile(v, (1 + confidence) / 2)];
    standardErrors[key] = Math.sqrt(variance);
  }
  return { intervals, standardErrors };
}

/** Fits E + A/N^α + B/D^β to runs (see the module comment). */
export function fitScalingLaw(
  points: readonly LossPoint[],
  options?: FitOptions & { form?: 'chinchilla' },
): ChinchillaFit;
/** Fits E + A/x^α to observations (see the module comment). */
export function fitScalingLaw(
  points: readonly PowerPoint[],
  options: FitOptions & { form: 'power' },
): PowerFit;
export function fitScalingLaw(
  points: readonly (LossPoint | PowerPoint)[],
  options: FitOptions = {},
): ChinchillaFit | PowerFit {
  const {
    form = 'chinchilla',
    delta = 1e-3,
    excludeHighestLoss = 0,
    bootstrap = 0,
    confidence = 0.95,
    seed = 0,
    maxIterations = 1000,
  } = options;
  if (form !== 'chinchilla' && form !== 'power') {
    throw new RangeError(`fitScalingLaw: form must be 'chinchilla' or 'power', got ${JSON.stringify(form)}`);
  }
  if (!Array.isArray(points)) throw new TypeError('fitScalingLaw: points must be an array');
  checkNumber('delta', delta);
  if (!(Number.isInteger(excludeHighestLoss) && excludeHighestLoss >= 0))
    throw new RangeError(
      `fitScalingLaw: excludeHighestLoss must be a non-negative integer, got ${excludeHighestLoss}`,
    );
  if (!(Number.isInteger(bootstrap) && bootstrap >= 0))
    throw new RangeError(`fitScalingLaw: bootstrap must be a non-negative integer, got ${bootstrap}`);
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`fitScalingLaw: confidence must be in (0, 1), got ${confidence}`);

  const chinchilla = form === 'chinchilla';
  const features = points.map((p, i) => {
    if (chinchilla) {
      const q = p as LossPoint;
      return Float64Array.of(
        Math.log(checkNumber(`points[${i}].N`, q.N)),
        Math.log(checkNumber(`points[${i}].D`, q.D)),
      );
    }
    return Float64Array.of(Math.log(checkNumber(`points[${i}].x`, (p as PowerPoint).x)));
  });
  const target = Float64Array.from(points, (p, i) => Math.log(checkNumber(`points[${i}].loss`, p.loss)));
  const problem: Problem = chinchilla
    ? {
        names: ['a', 'b', 'e', 'alpha', 'beta'],
        terms: [{ coef: 0, exponent: 3, feature: 0 }, { coef: 1, exponent: 4, feature: 1 }, { coef: 2 }],
        features,
        target,
      }
    : {
        names: ['a', 'e', 'alpha'],
        terms: [{ coef: 0, exponent: 2, feature: 0 }, { coef: 1 }],
        features,
        target,
      };
  // Drop the highest losses (ties broken by position).
  const order = [...points.keys()].sort((i, j) => target[j] - target[i] || i - j);
  const dropped = new Set(order.slice(0, excludeHighestLoss));
  const used = Int32Array.from([...points.keys()].filter((i) => !dropped.has(i)));
  const minimum = problem.names.length;
  if (used.length < minimum) {
    throw new RangeError(
      `fitScalingLaw: the ${form} form has ${minimum} parameters and needs at least ${minimum} points, got ${used.length}${excludeHighestLoss ? ` after excluding ${excludeHighestLoss}` : ''}`,
    );
  }
  const grid = { ...EPOCH_GRID, ...options.grid };
  for (const name of problem.names) {
    const values = grid[name as keyof typeof grid];
    if (!Array.isArray(values) || values.length === 0 || !values.every(Number.isFinite)) {
      throw new RangeError(`fitScalingLaw: grid.${name} must be a non-empty array of finite numbers`);
    }
  }
  const starts = product(problem.names.map((name) => grid[name as keyof typeof grid]));
  const best = bestOf(problem, used, starts, delta, maxIterations);

  const toLaw = (theta: Float64Array): ChinchillaLaw | PowerLaw =>
    chinchilla
      ? {
          kind: 'chinchilla',
          name: 'fit',
          source: `fitScalingLaw: Huber (δ = ${delta}) on log-loss, L-BFGS from ${starts.length} starts, ${used.length} runs`,
          E: Math.exp(theta[2]),
          A: Math.exp(theta[0]),
          B: Math.exp(theta[1]),
          alpha: theta[3],
          beta: theta[4],
        }
      : { kind: 'power', E: Math.exp(theta[1]), A: Math.exp(theta[0]), alpha: theta[2] };
  const coefficientNames = chinchilla
    ? (['E', 'A', 'B', 'alpha', 'beta'] as const)
    : (['E', 'A', 'alpha'] as const);
  const fit: Fit<ChinchillaLaw | PowerLaw, string> = {
    law: toLaw(best.theta),
    theta: Object.fromEntries(problem.names.map((name, i) => [name, best.theta[i]])),
    objective: best.value,
    starts: starts.length,
    converged: best.converged,
    pointsUsed: used.length,
    excluded: dropped.size,
  };
  if (bootstrap > 0) {
    const random = new SeededRandom(seed);
    const samples: (ChinchillaLaw | PowerLaw)[] = [];
    for (let s = 0; s < bootstrap; s++) {
      const resample = Int32Array.from(used, () => used[random.integer(used.length)]);
      // Each resample starts from the full fit (its optimum is nearby).
      samples.push(toLaw(bestOf(problem, resample, [Array.from(best.theta)], delta, maxIterations).theta));
    }
    const values = samples.map((law) => law as unknown as Coefficients<string>);
    Object.assign(fit, summarise(values, coefficientNames, confidence), { samples });
  }
  return fit as ChinchillaFit | PowerFit;
}

/** L(x) of a power law. */
export function powerLossAt(law: PowerLaw, x: number): number {
  return law.E + law.A / x ** law.alpha;
}
