/**
 * L-BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed., algorithms 7.4 and 7.5) with a
 * strong-Wolfe line search (algorithms 3.5 and 3.6, cubic interpolation in the zoom, bisection
 * when the cubic is unusable). Small, dependency-free, and exact about its stopping reasons,
 * because the fits it serves have tiny objective values (Huber δ = 1e-3 on log-losses): an
 * optimiser that stops on an absolute decrease would stop far from the minimum (Besiroglu et
 * al. 2024 found that this is what happened to Hoffmann et al.'s fit).
 */

/** `f(x)`, writing ∇f(x) into `gradient`. Return a non-finite value where f is undefined. */
export type Objective = (x: Float64Array, gradient: Float64Array) => number;

/** Options of {@link minimizeLbfgs}. */
export interface LbfgsOptions {
  /** Correction pairs kept (default 10). */
  memory?: number;
  /** Default 1000. */
  maxIterations?: number;
  /** Stop when ‖∇f‖∞ ≤ this (default 1e-10). */
  gradientTolerance?: number;
  /** Stop when an iteration lowers f by no more than this × max(|f|, 1e-300) (default 1e-15). */
  relativeTolerance?: number;
  /** Sufficient-decrease constant c₁ (default 1e-4). */
  c1?: number;
  /** Curvature constant c₂ (default 0.9). */
  c2?: number;
  /** Function evaluations per line search (default 40). */
  maxLineSearch?: number;
}

/** What {@link minimizeLbfgs} returns. */
export interface LbfgsResult {
  x: Float64Array;
  value: number;
  gradientNorm: number;
  iterations: number;
  evaluations: number;
  /** True when it stopped on the gradient or relative-decrease test. */
  converged: boolean;
  reason: 'gradient' | 'decrease' | 'max-iterations' | 'line-search' | 'non-finite-start';
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Minimiser of the cubic through (a, fa, ga) and (b, fb, gb), or NaN when it has none. */
function cubicMin(a: number, fa: number, ga: number, b: number, fb: number, gb: number): number {
  const d1 = ga + gb - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - ga * gb;
  if (!(disc >= 0)) return Number.NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  return b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2));
}

/**
 * Minimises `f` from `x0`.
 *
 * ```ts
 * const { x } = minimizeLbfgs((x, g) => { g[0] = 2 * (x[0] - 3); return (x[0] - 3) ** 2; }, [0]);
 * ```
 */
export function minimizeLbfgs(f: Objective, x0: ArrayLike<number>, options: LbfgsOptions = {}): LbfgsResult {
  const {
    memory = 10,
    maxIterations = 1000,
    gradientTolerance = 1e-10,
    relativeTolerance = 1e-15,
    c1 = 1e-4,
    c2 = 0.9,
    maxLineSearch = 40,
  } = options;
  if (!(0 < c1 && c1 < c2 && c2 < 1))
    throw new RangeError(`minimizeLbfgs: need 0 < c1 < c2 < 1, got ${c1}, ${c2}`);
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let evaluations = 1;
  let fx = f(x, g);
  const result = (reason: LbfgsResult['reason'], iterations: number): LbfgsResult => ({
    x,
    value: fx,
    gradientNorm: maxAbs(g),
    iterations,
    evaluations,
    converged: reason === 'gradient' || reason === 'decrease',
    reason,
  });
  if (!Number.isFinite(fx) || !g.every(Number.isFinite)) return result('non-finite-start', 0);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const direction = new Float64Array(n);
  const alphas = new Float64Array(memory);
  const xTrial = new Float64Array(n);
  const gTrial = new Float64Array(n);

  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (maxAbs(g) <= gradientTolerance) return result('gradient', iteration);
    // Two-loop recursion: direction = −H·g.
    direction.set(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alphas[i] = rho[i] * dot(S[i], direction);
      for (let j = 0; j < n; j++) direction[j] -= alphas[i] * Y[i][j];
    }
    const gamma =
      S.length > 0 ? dot(S[S.length - 1], Y[S.length - 1]) / dot(Y[S.length - 1], Y[S.length - 1]) : 1;
    for (let j = 0; j < n; j++) direction[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], direction);
      for (let j = 0; j < n; j++) direction[j] += S[i][j] * (alphas[i] - beta);
    }
    for (let j = 0; j < n; j++) direction[j] = -direction[j];
    let slope = dot(g, direction);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information gone bad): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let j = 0; j < n; j++) direction[j] = -g[j];
      slope = dot(g, direction);
    }
    // First step of a fresh memory: a unit-length move; afterwards the quasi-Newton step 1.
    const initial = S.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(direction, direction))) : 1;

    // Strong-Wolfe line search.
    const phi = (t: number): { f: number; d: number } => {
      for (let j = 0; j < n; j++) xTrial[j] = x[j] + t * direction[j];
      evaluations++;
      const value = f(xTrial, gTrial);
      return { f: value, d: Number.isFinite(value) ? dot(gTrial, direction) : Number.NaN };
    };
    // `accepted` is the best point with sufficient decrease so far (the fallback when the
    // budget runs out); `done` marks a point that also meets the curvature condition.
    let accepted = -1;
    let acceptedF = Number.NaN;
    let done = false;
    const acceptedG = new Float64Array(n);
    const accept = (t: number, value: number, final: boolean) => {
      if (accepted < 0 || value < acceptedF || final) {
        accepted = t;
        acceptedF = value;
        acceptedG.set(gTrial);
      }
      done = final;
    };
    const zoom = (
      lo: number,
      flo: number,
      dlo: number,
      hi: number,
      fhi: number,
      dhi: number,
      budget: number,
    ) => {
      for (let k = 0; k < budget; k++) {
        let t = cubicMin(lo, flo, dlo, hi, fhi, dhi);
        const [left, right] = lo < hi ? [lo, hi] : [hi, lo];
        const margin = 0.1 * (right - left);
        if (!(t > left + margin && t < right - margin)) t = (lo + hi) / 2;
        const p = phi(t);
        if (!Number.isFinite(p.f) || p.f > fx + c1 * t * slope || p.f >= flo) {
          hi = t;
          fhi = Number.isFinite(p.f) ? p.f : Number.POSITIVE_INFINITY;
          dhi = Number.isFinite(p.d) ? p.d : dlo;
        } else {
          if (Math.abs(p.d) <= -c2 * slope) return accept(t, p.f, true);
          accept(t, p.f, false);
          if (p.d * (hi - lo) >= 0) {
            hi = lo;
            fhi = flo;
            dhi = dlo;
          }
          lo = t;
          flo = p.f;
          dlo = p.d;
        }
        if (Math.abs(hi - lo) <= 1e-16 * Math.max(1, Math.abs(lo))) return;
      }
    };
    let tPrev = 0;
    let fPrev = fx;
    let dPrev = slope;
    let t = initial;
    for (let k = 0; k < maxLineSearch && !done; k++) {
      const p = phi(t);
      if (!Number.isFinite(p.f)) {
        // Undefined there (an overflow): the minimum along this line lies closer.
        zoom(tPrev, fPrev, dPrev, t, Number.POSITIVE_INFINITY, dPrev, maxLineSearch - k);
        break;
      }
      if (p.f > fx + c1 * t * slope || (k > 0 && p.f >= fPrev)) {
        zoom(tPrev, fPrev, dPrev, t, p.f, p.d, maxLineSearch - k);
        break;
      }
      if (Math.abs(p.d) <= -c2 * slope) {
        accept(t, p.f, true);
        break;
      }
      accept(t, p.f, false);
      if (p.d >= 0) {
        zoom(t, p.f, p.d, tPrev, fPrev, dPrev, maxLineSearch - k);
        break;
      }
      tPrev = t;
      fPrev = p.f;
      dPrev = p.d;
      t *= 2;
    }
    if (accepted < 0 || !(acceptedF < fx)) return result('line-search', iteration);

    const s = new Float64Array(n);
    const y = new Float64Array(n);
    const xNew = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      xNew[j] = x[j] + accepted * direction[j];
      s[j] = xNew[j] - x[j];
      y[j] = acceptedG[j] - g[j];
    }
    const decrease = fx - acceptedF;
    x = xNew;
    g = Float64Array.from(acceptedG);
    const previous = fx;
    fx = acceptedF;
    const sy = dot(s, y);
    if (sy > 1e-300) {
      // Keep only pairs with positive curvature, so the implicit Hessian stays positive definite.
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    if (decrease <= relativeTolerance * Math.max(Math.abs(previous), 1e-300)) {
      return result(maxAbs(g) <= gradientTolerance ? 'gradient' : 'decrease', iteration + 1);
    }
  }
  return result(maxAbs(g) <= gradientTolerance ? 'gradient' : 'max-iterations', maxIterations);
}
