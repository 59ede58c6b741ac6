/**
 * Reductions over the trailing dimensions of a strided view, and the inclusive prefix sum.
 *
 * Each output row reduces R elements. Short rows (R ≤ 16) use one invocation per row; longer
 * rows use one workgroup per row: every invocation folds a strided share of the row, then a
 * tree in workgroup memory combines the partial results.
 */
import type { ReduceOp, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { sizeOf } from '../../../shape.js';
import { type ComputeType, computeType, storageType } from '../dtypes.js';
import type { Launch } from '../executor.js';
import { ROW_FUNCTION, rowEnables, rowLoopMain, rowsPerWorkgroup } from './rows.js';
import { collapse, packWalk, type WalkVariant, walkOffsets, walkVariant, walkWords } from './strided.js';
import {
  buffer,
  dtypeBuffer,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  rowMain,
  store,
  uniforms,
} from './wgsl.js';
import { rowWorkgroup } from './workgroup.js';

/** Rows this short are reduced by one invocation each. */
const SERIAL_MAX = 16;

const NONE = '0xffffffffu';

function identity(op: ReduceOp, t: ComputeType): string {
  const lit = (f: string, i: string, u: string) => (t === 'f32' ? f : t === 'i32' ? i : u);
  switch (op) {
    case 'sum':
    case 'mean':
      return lit('0.0', '0', '0u');
    case 'prod':
      return lit('1.0', '1', '1u');
    case 'max':
    case 'argmax':
      return lit('-inf_f32()', '-2147483648', '0u');
    case 'min':
    case 'argmin':
      return lit('inf_f32()', '2147483647', '4294967295u');
  }
}

function combineFn(op: ReduceOp, t: ComputeType): string {
  let body: string;
  switch (op) {
    case 'sum':
    case 'mean':
      body = 'return a + b;';
      break;
    case 'prod':
      body = 'return a * b;';
      break;
    case 'max':
      body = t === 'f32' ? 'return max_nan(a, b);' : 'return max(a, b);';
      break;
    case 'min':
      body = t === 'f32' ? 'return min_nan(a, b);' : 'return min(a, b);';
      break;
    default:
      body = 'return a;';
  }
  const cmp = op === 'argmin' ? '<' : '>';
  // arg ops: is candidate (v, i) better than (bv, bi)? First occurrence wins ties, and the first
  // NaN beats every number (PyTorch's semantics, as the CPU backend).
  const nan =
    t === 'f32'
      ? `  let vn = is_nan(v);
  if (is_nan(bv)) { return vn && i < bi; }
  if (vn) { return true; }
`
      : '';
  return `fn combine(a: ${t}, b: ${t}) -> ${t} { ${body} }
fn better(v: ${t}, i: u32, bv: ${t}, bi: u32) -> bool {
  if (i == ${NONE}) { return false; }
  if (bi == ${NONE}) { return true; }
${nan}  if (v == bv) { return i < bi; }
  return v ${cmp} bv;
}
`;
}

/**
 * Uniform words: rows, R, out offset, half the workgroup size (a uniform, so the compiler cannot
 * unroll the barrier loop: llvmpipe takes seconds over unrolled loops with barriers), then the
 * outer walk (x offset) and the inner walk (offset 0). Walks have a runtime rank.
 */
const OUTER = 4;
const INNER = OUTER + walkWords(1);
const WORDS = INNER + walkWords(1);

/** Statements loading element `r` of the current row into `v`. */
function foldStatements(op: ReduceOp, x: DType, inner: WalkVariant): string {
  const arg = op === 'argmax' || op === 'argmin';
  const walk = walkOffsets(1, INNER, 'r', inner, 'in');
  const v = load(x, 'x', 'base + in0');
  if (!arg) return `${walk}\n    acc = combine(acc, ${v});`;
  return `${walk}\n    let v = ${v};\n    if (better(v, r, acc, accI)) { acc = v; accI = r; }`;
}

/** The statement writing the row result (`acc`, `accI`) to `out[p(2) + row]`. */
function finishStatement(op: ReduceOp, out: DType): string {
  if (op === 'argmax' || op === 'argmin') {
    return `let result = select(accI, 0u, accI == ${NONE});\n    out[p(2u) + row] = i32(result);`;
  }
  const value = op === 'mean' ? 'acc / f32(p(1u))' : 'acc';
  return store(out, 'out', 'p(2u) + row', value);
}

interface Walks {
  outer: WalkVariant;
  inner: WalkVariant;
}

function reduceKernel(
  op: ReduceOp,
  x: DType,
  out: DType,
  walks: Walks,
  variant: 'serial' | number,
): Launch['kernel'] {
  const t = computeType(x);
  const arg = op === 'argmax' || op === 'argmin';
  const head = `${enables([x, out])}${uniforms(WORDS)}${dtypeBuffer(1, 'out', 'read_write', out)}${dtypeBuffer(2, 'x', 'read', x)}${mathPrelude(x === 'float16' || out === 'float16')}${combineFn(op, t)}`;
  const rowBase = walkOffsets(1, OUTER, 'row', walks.outer, 'o');
  const init = `var acc: ${t} = ${identity(op, t)};\n  var accI: u32 = ${NONE};\n  let base = o0;`;
  const key = `reduce:${op}:${x}>${out}:o${walks.outer},i${walks.inner}:${variant}`;
  if (variant === 'serial') {
    return {
      key,
      access: ['read_write', 'read'],
      build: () => `${head}
${flatMain(64)}
  let row = idx;
  if (row >= p(0u)) { return; }
  ${rowBase}
  ${init}
  for (var r = 0u; r < p(1u); r = r + 1u) {
    ${foldStatements(op, x, walks.inner)}
  }
  ${finishStatement(op, out)}
}
`,
    };
  }
  const wg = variant;
  const merge = arg
    ? `if (better(sv[lid + s], si[lid + s], sv[lid], si[lid])) { sv[lid] = sv[lid + s]; si[lid] = si[lid + s]; }`
    : 'sv[lid] = combine(sv[lid], sv[lid + s]);';
  return {
    key,
    access: ['read_write', 'read'],
    build: () => `${head}
var<workgroup> sv: array<${t}, ${wg}>;
var<workgroup> si: array<u32, ${wg}>;
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  ${rowBase}
  ${init}
  for (var r = lid; r < p(1u); r = r + ${wg}u) {
    ${foldStatements(op, x, walks.inner)}
  }
  sv[lid] = acc;
  si[lid] = accI;
  workgroupBarrier();
  for (var s = p(3u); s > 0u; s = s >> 1u) {
    if (lid < s) { ${merge} }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = sv[0];
    accI = si[0];
    ${finishStatement(op, out)}
  }
}
`,
  };
}

/**
 * The subgroup variant for contiguous rows: one workgroup of `lanes` invocations (one subgroup,
 * see rows.ts) per row, each lane folding every `lanes`-th element (or vec4: float values, no
 * index, 4-aligned rows), then a butterfly of subgroup shuffles. `combine` and `better` are
 * commutative, so every lane ends with the same bits and no workgroup memory or barrier is used.
 */
function reduceSubgroupKernel(
  op: ReduceOp,
  x: DType,
  out: DType,
  outer: WalkVariant,
  lanes: number,
  vec: 1 | 4,
): Launch['kernel'] {
  const t = computeType(x);
  const arg = op === 'argmax' || op === 'argmin';
  const f16 = x === 'float16' || out === 'float16';
  const scalar = x === 'float16' ? 'f16' : storageType(x);
  const xType = vec === 4 ? `vec4<${scalar}>` : scalar;
  const v =
    vec === 4 ? (x === 'float16' ? 'vec4<f32>(x[base + r])' : 'x[base + r]') : load(x, 'x', 'base + r');
  const fold = arg
    ? `let v = ${v};\n    if (better(v, r, acc, accI)) { acc = v; accI = r; }`
    : vec === 4
      ? `let v = ${v};\n    acc4 = vec4<${t}>(combine(acc4.x, v.x), combine(acc4.y, v.y), combine(acc4.z, v.z), combine(acc4.w, v.w));`
      : `acc = combine(acc, ${v});`;
  const step = arg
    ? `let ov = subgroupShuffleXor(acc, k);
    let oi = subgroupShuffleXor(accI, k);
    if (better(ov, oi, acc, accI)) { acc = ov; accI = oi; }`
    : 'acc = combine(acc, subgroupShuffleXor(acc, k));';
  return {
    key: `reduce:${op}:${x}>${out}:o${outer}:sg${lanes}v${vec}`,
    access: ['read_write', 'read'],
    build:
      () => `${rowEnables(f16)}${uniforms(WORDS + 1)}${dtypeBuffer(1, 'out', 'read_write', out)}${buffer(2, 'x', 'read', xType)}${mathPrelude(f16)}${combineFn(op, t)}
${ROW_FUNCTION}
  ${walkOffsets(1, OUTER, 'row', outer, 'o')}
  var acc: ${t} = ${identity(op, t)};
  var accI: u32 = ${NONE};
  let base = o0 / ${vec}u;
  ${vec === 4 ? `var acc4 = vec4<${t}>(acc);` : ''}
  for (var r = lid; r < p(1u) / ${vec}u; r = r + ${lanes}u) {
    ${fold}
  }
  ${vec === 4 ? 'acc = combine(combine(acc4.x, acc4.y), combine(acc4.z, acc4.w));' : ''}
  for (var k = ${lanes / 2}u; k > 0u; k = k >> 1u) {
    ${step}
  }
  if (lid == 0u) {
    ${finishStatement(op, out)}
  }
}
${rowLoopMain(lanes, WORDS)}`,
  };
}

/**
 * Reduces the last `reducedDims` dims of `x` into contiguous `out`. `lanes` > 0 (rows.ts
 * `rowLanes`) lets long contiguous rows take the subgroup variant.
 */
export function reduceLaunch(
  op: ReduceOp,
  x: View,
  reducedDims: number,
  out: View,
  maxWorkgroups: number,
  lanes = 0,
): Launch {
  const split = x.shape.length - reducedDims;
  const outer = collapse(x.shape.slice(0, split), [x.strides.slice(0, split)], [x.offset]);
  const inner = collapse(x.shape.slice(split), [x.strides.slice(split)], [0]);
  const rows = sizeOf(outer.shape);
  const R = sizeOf(inner.shape);
  const serial = R <= SERIAL_MAX;
  const wg = rowWorkgroup(R);
  const words = [rows, R, out.offset, wg / 2];
  packWalk(words, outer);
  packWalk(words, inner);
  // The outer walk runs once per row: one looping variant serves every rank. The inner walk runs
  // per element: contiguous or 1-D strided rows get the straight-line variant.
  const walks: Walks = { outer: 'n', inner: walkVariant(inner) === 1 ? 1 : 'n' };
  const contiguousRows = inner.shape.length <= 1 && (inner.shape.length === 0 || inner.strides[0][0] === 1);
  if (!serial && lanes > 0 && contiguousRows) {
    const arg = op === 'argmax' || op === 'argmin';
    const float = x.dtype === 'float32' || x.dtype === 'float16';
    const aligned = R % 4 === 0 && x.offset % 4 === 0 && outer.strides[0].every((st) => st % 4 === 0);
    const vec = float && !arg && aligned ? 4 : 1;
    const k = rowsPerWorkgroup(R);
    return {
      kernel: reduceSubgroupKernel(op, x.dtype, out.dtype, walks.outer, lanes, vec),
      params: [...words, k], // word WORDS: rows per workgroup
      grid: grid2d(Math.ceil(rows / k), maxWorkgroups),
    };
  }
  if (serial) {
    return {
      kernel: reduceKernel(op, x.dtype, out.dtype, walks, 'serial'),
      params: words,
      grid: grid2d(Math.ceil(rows / 64), maxWorkgroups),
    };
  }
  return {
    kernel: reduceKernel(op, x.dtype, out.dtype, walks, wg),
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}

/** Inclusive prefix sums along the last dim of `x` into contiguous `out` (one workgroup per row). */
export function cumsumLaunch(x: View, out: View, maxWorkgroups: number): Launch {
  const r = x.shape.length;
  const n = x.shape[r - 1];
  const outer = collapse(x.shape.slice(0, r - 1), [x.strides.slice(0, r - 1)], [x.offset]);
  const rows = sizeOf(outer.shape);
  const wg = 64;
  const words = [rows, n, x.strides[r - 1], out.offset, 1];
  packWalk(words, outer);
  const t = computeType(x.dtype);
  const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0' : '0u';
  const dtypes = [x.dtype, out.dtype];
  return {
    kernel: {
      key: `cumsum:${x.dtype}`,
      access: ['read_write', 'read'],
      build:
        () => `${enables(dtypes)}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${dtypeBuffer(2, 'x', 'read', x.dtype)}${mathPrelude(dtypes.includes('float16'))}
var<workgroup> partial: array<${t}, ${wg}>;
${rowMain(wg)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let step = p(2u);
  ${walkOffsets(1, 5, 'row', 'n', 'o')}
  let outBase = p(3u) + row * n;
  // each invocation owns one contiguous chunk of the row
  let chunk = (n + ${wg - 1}u) / ${wg}u;
  let start = min(lid * chunk, n);
  let end = min(start + chunk, n);
  var s: ${t} = ${zero};
  for (var j = start; j < end; j = j + 1u) { s = s + ${load(x.dtype, 'x', 'o0 + j * step')}; }
  partial[lid] = s;
  workgroupBarrier();
  // Hillis-Steele inclusive scan of the chunk sums (word 4 is 1: a uniform start keeps the loop rolled)
  for (var d = p(4u); d < ${wg}u; d = d << 1u) {
    var t: ${t} = ${zero};
    if (lid >= d) { t = partial[lid - d]; }
    workgroupBarrier();
    partial[lid] = partial[lid] + t;
    workgroupBarrier();
  }
  var acc: ${t} = ${zero};
  if (lid > 0u) { acc = partial[lid - 1u]; }
  for (var j = start; j < end; j = j + 1u) {
    acc = acc + ${load(x.dtype, 'x', 'o0 + j * step')};
    ${store(out.dtype, 'out', 'outBase + j', 'acc')}
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}
