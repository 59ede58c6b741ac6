/**
 * The register-cached form of the vec4 subgroup row kernels (rows.ts): when the row length is
 * fixed in the pipeline, each lane loads its vec4s of the row once into named values
 * (`let v0 = …; let v1 = …;`, constant indices, no arrays) and every pass reads those.
 *
 * Why: on llvmpipe a storage load whose address differs per lane is a per-lane gather, and the
 * three-pass row kernels pay for three of them per element. A dynamically indexed private
 * array does not help (llvmpipe turns it into per-lane memory accesses too); named SSA values
 * stay in vector registers or spill as whole vectors.
 *
 * The unrolled passes visit a lane's columns in the loop kernels' order (lane, lane + L, …) and
 * start their sums from a 0.0 read from the uniforms (Mesa's NIR folds a constant 0 + a and then
 * reorders the unrolled adds, which the loop's phi prevents), so results are bit-identical to the
 * loop variant (tested). The cost is a pipeline per row length, 0.1–0.4 s to compile on lavapipe
 * (the loop kernels: one per dtype, any length), and code that grows with the unrolled length,
 * hence the cap.
 */

import { envVar } from '../env.js';
import type { RowPlan } from './rows.js';

/**
 * Most vec4s one lane keeps. Measured on lavapipe (8 lanes, interleaved A/B): 2–4 per lane
 * (rows of 64–128) ran softmax 1.9–2.3×, layerNorm 1.1–1.5×, rmsNorm 1.1–1.4× and the
 * backward kernels 1.4–1.9× faster than the loop kernels; 8 per lane (256) no faster or slower,
 * and 24–32 (768–1024) slower for the norms (only softmax gained, 1.2–1.3×) and 2–29 s to
 * compile: each unrolled vec4 gather is ~130 instructions of per-lane bounds checks and loads,
 * so the straight-line kernel likely outgrows the instruction cache, and the cached row spills.
 */
export const MAX_ROW_REGISTERS = 4;

/**
 * vec4s per lane when a row of `n` elements can be held in named values under `plan` (vec4
 * rows, n a multiple of 4 · lanes, at most {@link MAX_ROW_REGISTERS} per lane), else 0.
 * `KILN_ROW_REGISTERS=0` turns the form off (read per launch, for A/B runs in one process).
 */
export function rowRegisters(plan: RowPlan, n: number): number {
  if (plan.vec !== 4 || envVar('KILN_ROW_REGISTERS') === '0') return 0;
  const per = 4 * plan.lanes;
  if (n === 0 || n % per !== 0) return 0;
  const count = n / per;
  return count <= MAX_ROW_REGISTERS ? count : 0;
}

/**
 * The register form of a row kernel for rows of `n` under `plan`: `count` vec4s per lane
 * ({@link rowRegisters}), `zero`, the 0.0 its sums start from, and the kernel key's suffix.
 * Unrolled, the 0.0 is a uniform word pushed onto `words`, so the compiler cannot see it: from a
 * constant 0, NIR folds 0 + a to a and then reorders the adds (other bits than the loop kernels).
 */
export function rowRegisterForm(
  words: number[],
  plan: RowPlan,
  n: number,
): { count: number; zero: string; key: string } {
  const count = rowRegisters(plan, n);
  if (count === 0) return { count, zero: '0.0', key: '' };
  words.push(0);
  return { count, zero: `pf(${words.length - 1}u)`, key: `r${n}` };
}

/**
 * One pass over a lane's columns: a loop over `c` (count 0) or the pass unrolled over the
 * lane's `count` vec4s. `body(c, j)` gets the column expression (in row values) and the index
 * j of the cached value (see {@link rowValue}); the text it returns is one statement.
 */
export function rowPass(plan: RowPlan, count: number, body: (c: string, j: number) => string): string {
  if (count === 0) return `for (var c = lid; c < n; c = c + ${plan.lanes}u) { ${body('c', 0)} }`;
  const lines: string[] = [];
  for (let j = 0; j < count; j++) lines.push(body(`(lid + ${j * plan.lanes}u)`, j));
  return lines.join('\n  ');
}

/**
 * The cached row values of `name` (`let name0 = load; …`, one per vec4 of the lane), or '' in
 * the loop form. `load(c)` is the load expression at column `c`.
 */
export function rowCache(plan: RowPlan, count: number, name: string, load: (c: string) => string): string {
  if (count === 0) return '';
  return `${rowPass(plan, count, (c, j) => `let ${name}${j} = ${load(c)};`)}\n  `;
}

/** Row value j of `name`: the cached value, or `load(c)` in the loop form. */
export function rowValue(
  count: number,
  name: string,
  j: number,
  c: string,
  load: (c: string) => string,
): string {
  return count === 0 ? load(c) : `${name}${j}`;
}
