/**
 * Top-k per row by k selection passes (k is usually small). The rows are ordered by a strict
 * total order (largest: NaN first, then descending value, ties by lower index; smallest:
 * ascending, NaN last), so pass j finds the best element strictly after pass j-1's pick:
 * no marks, no extra memory, and the same order as the CPU's stable sort.
 */
import type { View } from '../../../backend.js';
import { isFloat } from '../../../dtype.js';
import { computeType } from '../dtypes.js';
import type { Launch } from '../executor.js';
import { dtypeBuffer, enables, grid2d, load, mathPrelude, rowMain, uniforms } from './wgsl.js';

const WORKGROUP = 64;
const NONE = '0xffffffffu';

function beforeFn(float: boolean, largest: boolean, t: string): string {
  const nanRule = float
    ? `let an = is_nan(av);
  let bn = is_nan(bv);
  if (an || bn) { if (an && bn) { return ai < bi; } return ${largest ? 'an' : 'bn'}; }`
    : '';
  return `// does (av, ai) come strictly before (bv, bi)? NONE comes after everything
fn before(av: ${t}, ai: u32, bv: ${t}, bi: u32) -> bool {
  if (ai == ${NONE}) { return false; }
  if (bi == ${NONE}) { return true; }
  ${nanRule}
  if (av != bv) { return av ${largest ? '>' : '<'} bv; }
  return ai < bi;
}
`;
}

/** Sorted k largest (or smallest) of each contiguous row of `x` into `values` and int32 `indices`. */
export function topkLaunch(
  x: View,
  k: number,
  largest: boolean,
  values: View,
  indices: View,
  maxWorkgroups: number,
): Launch {
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const t = computeType(x.dtype);
  const words = [rows, n, k, x.offset, values.offset, indices.offset, WORKGROUP / 2];
  const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0' : '0u';
  return {
    kernel: {
      key: `topk:${x.dtype}:${largest ? 'largest' : 'smallest'}`,
      access: ['read', 'read_write', 'read_write'],
      build:
        () => `${enables([x.dtype])}${uniforms(words.length)}${dtypeBuffer(1, 'x', 'read', x.dtype)}${dtypeBuffer(2, 'values', 'read_write', x.dtype)}${dtypeBuffer(3, 'indices', 'read_write', 'int32')}${mathPrelude(x.dtype === 'float16')}${beforeFn(isFloat(x.dtype), largest, t)}
var<workgroup> cv: array<${t}, ${WORKGROUP}>;
var<workgroup> ci: array<u32, ${WORKGROUP}>;
var<workgroup> lastV: ${t};
var<workgroup> lastI: u32;
${rowMain(WORKGROUP)}
  if (row >= p(0u)) { return; }
  let n = p(1u);
  let k = p(2u);
  let base = p(3u) + row * n;
  if (lid == 0u) { lastI = ${NONE}; }
  workgroupBarrier();
  for (var j = 0u; j < k; j = j + 1u) {
    let pv = lastV;
    let pi = lastI;
    var bv: ${t} = ${zero};
    var bi: u32 = ${NONE};
    for (var c = lid; c < n; c = c + ${WORKGROUP}u) {
      let v = ${load(x.dtype, 'x', 'base + c')};
      // only elements after the previous pick are still candidates
      if (pi != ${NONE} && !before(pv, pi, v, c)) { continue; }
      if (before(v, c, bv, bi)) { bv = v; bi = c; }
    }
    cv[lid] = bv;
    ci[lid] = bi;
    workgroupBarrier();
    for (var s = p(6u); s > 0u; s = s >> 1u) { // uniform bound: keeps llvmpipe from unrolling around barriers
      if (lid < s && before(cv[lid + s], ci[lid + s], cv[lid], ci[lid])) {
        cv[lid] = cv[lid + s];
        ci[lid] = ci[lid + s];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      lastV = cv[0];
      lastI = ci[0];
      values[p(4u) + row * k + j] = x[base + ci[0]];
      indices[p(5u) + row * k + j] = i32(ci[0]);
    }
    workgroupBarrier();
  }
}
`,
    },
    params: words,
    grid: grid2d(rows, maxWorkgroups),
  };
}
