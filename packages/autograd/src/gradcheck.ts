/**
 * `gradCheck`: compares the gradients autograd computes with central finite differences, both in
 * float64 on the cpu backend. For contributors who add ops and rules (see docs/autograd.md).
 */
import { isFloat, scope, type Tensor, tensor } from '@kiln/tensor';
import { AutogradError } from './errors.js';
import { float64Backend } from './float64.js';
import { differentiate } from './functional.js';
import { noGrad } from './mode.js';

/** Options of {@link gradCheck}. */
export interface GradCheckOptions {
  /** Finite-difference step (default 1e-6; the computation is float64). */
  eps?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
  /** Relative tolerance, times |finite difference| (default 1e-5). */
  rtol?: number;
  /** Inputs to check (default: every float input). */
  argnums?: readonly number[];
  /** Most elements perturbed per input; larger inputs are sampled (default 64). */
  maxElements?: number;
  /** Seed of the output projection and the sampling (default 0). */
  seed?: number;
  /** Throw an {@link AutogradError} describing the mismatches (default true). */
  raise?: boolean;
}

/** One element whose analytic and numeric derivatives disagree. */
export interface GradCheckFailure {
  /** Position of the input in `inputs`. */
  input: number;
  /** Flat (row-major) index of the element. */
  index: number;
  /** The derivative autograd computed. */
  analytic: number;
  /** The central finite difference. */
  numeric: number;
}

/** What {@link gradCheck} compared. */
export interface GradCheckResult {
  /** True when every compared derivative is within tolerance. */
  ok: boolean;
  /** Elements compared. */
  checked: number;
  /** Largest |analytic - numeric|. */
  maxAbsError: number;
  /** Largest |analytic - numeric| / max(|analytic|, |numeric|). */
  maxRelError: number;
  /** The elements out of tolerance. */
  failures: GradCheckFailure[];
  /** A one-paragraph summary (the error message when not ok). */
  message: string;
}

/** mulberry32: a small seeded generator, so checks are reproducible. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(n: number, max: number, random: () => number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, max).sort((a, b) => a - b);
}

/**
 * Checks the gradients of `f` at `inputs` against central finite differences.
 *
 * Inputs are copied to a float64 cpu backend (integer inputs, e.g. indices, are passed through
 * and not differentiated). A non-scalar output is reduced to a scalar with fixed random
 * weights w, L = Σ f(x)·w, so every output element is checked. The analytic side is the
 * vector-Jacobian product of f with w (only f's own rules run). Each selected input element is
 * perturbed by ±eps and (L(x+eps) - L(x-eps)) / 2eps is compared with the analytic dL/dx:
 * it passes when |analytic - numeric| <= atol + rtol·|numeric|.
 *
 * `f` must create any tensor it needs on its inputs' backend (`{ backend: x.backend }`). Second
 * derivatives are checked by passing a function that returns a gradient:
 * `gradCheck((x) => grad(g)(x), [x])`.
 */
export async function gradCheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const { eps = 1e-6, atol = 1e-6, rtol = 1e-5, maxElements = 64, seed = 0, raise = true } = options;
  const backend = await float64Backend();
  const random = generator(seed);
  const result = await scope(async (): Promise<GradCheckResult> => {
    const xs = await Promise.all(
      inputs.map(async (t) =>
        tensor(await t.data(), { shape: t.shape, dtype: isFloat(t.dtype) ? 'float32' : t.dtype, backend }),
      ),
    );
    const argnums = options.argnums ?? xs.flatMap((x, i) => (isFloat(x.dtype) ? [i] : []));
    const probe = noGrad(() => f(...xs));
    if (!isFloat(probe.dtype))
      throw new AutogradError(`gradCheck: f must return a float tensor, got ${probe.dtype}`);
    const weights = tensor(
      Float32Array.from({ length: probe.size }, () => random() * 2 - 1),
      { shape: probe.shape, backend },
    );
    // Analytic: the vector-Jacobian product with the weights as the output's gradient, so no
    // op besides f's own (whose rules may be under test) touches the analytic side.
    const { grads } = differentiate(f, xs, [...argnums], {
      hasAux: false,
      keepValue: false,
      who: 'gradCheck',
      cotangent: weights,
    });
    const analytic = await Promise.all((grads as Tensor[]).map((g) => g.data()));
    // Numeric: L(x) = Σ f(x)·w, evaluated without recording.
    const loss = (...a: Tensor[]) =>
      f(...a)
        .mul(weights)
        .sum();

    const failures: GradCheckFailure[] = [];
    let checked = 0;
    let maxAbsError = 0;
    let maxRelError = 0;
    for (const [k, i] of argnums.entries()) {
      const x = xs[i];
      for (const j of pick(x.size, maxElements, random)) {
        const numeric = await scope(async () => {
          const basis = new Float32Array(x.size);
          basis[j] = 1;
          const step = tensor(basis, { shape: x.shape, backend }).mul(eps);
          const at = (shifted: Tensor) =>
            noGrad(() => loss(...xs.map((v, m) => (m === i ? shifted : v)))).item();
          const plus = await at(x.add(step));
          const minus = await at(x.sub(step));
          return (plus - minus) / (2 * eps);
        });
        const a = analytic[k][j];
        const abs = Math.abs(a - numeric);
        checked++;
        maxAbsError = Math.max(maxAbsError, abs);
        maxRelError = Math.max(maxRelError, abs / Math.max(Math.abs(numeric), Math.abs(a), 1e-300));
        if (!(abs <= atol + rtol * Math.abs(numeric)))
          failures.push({ input: i, index: j, analytic: a, numeric });
      }
    }
    const ok = failures.length === 0;
    const worst = failures
      .slice(0, 5)
      .map(
        (f) => `input ${f.input} element ${f.index}: analytic ${f.analytic}, finite difference ${f.numeric}`,
      )
      .join('; ');
    const message = ok
      ? `gradCheck: ${checked} derivatives match (max abs error ${maxAbsError.toExponential(2)})`
      : `gradCheck: ${failures.length} of ${checked} derivatives differ beyond atol ${atol} + rtol ${rtol}·|numeric|: ${worst}`;
    return { ok, checked, maxAbsError, maxRelError, failures, message };
  });
  if (!result.ok && raise) throw new AutogradError(result.message);
  return result;
}
