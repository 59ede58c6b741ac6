/**
 * The fast elementwise kernel: vec4 loads and stores, several vec4s per invocation, for walks
 * whose operands are all contiguous, a repeated row vector, a column or one broadcast scalar.
 *
 * Why: on lavapipe every storage access whose address differs per lane is a per-lane gather, so
 * the generic strided kernel (one scalar element and a strided index walk per invocation) moves
 * about 2 GB/s. Binding the buffers as `array<vec4<T>>` makes each gather move 16 bytes, and a
 * few vec4s per invocation amortise the invocation's own cost. Raw Dawn probes of a [4096,1024]
 * f32 add on this adapter: scalar 2.1 GB/s; vec4 ×1 per invocation 5.3; ×2 7.0; ×4 with one
 * bounds check for the whole run 7.6–8.3; ×8 5.2–5.5 (workgroups of 64–256 within noise, 128
 * the steadiest). A grid-stride loop (5.5) and lane-interleaved vec4s (3.5–4.7) were slower.
 *
 * The kernel covers whole vec4s only: the strided kernel finishes a tail of fewer than 4
 * elements, and operands whose first element is not 4-aligned in their buffer are left to it.
 */
import type { View } from '../../../backend.js';
import { deviceItemSize, storageType } from '../dtypes.js';
import type { Launch } from '../executor.js';
import type { ElementwiseSpec } from './elementwise.js';
import { collapseViews, type StridedWalk } from './strided.js';
import { buffer, dtypeBuffer, enables, grid2d, mathPrelude, uniforms } from './wgsl.js';

/** Invocations per workgroup of the vec4 kernel. */
export const VEC4_WORKGROUP = 128;
/** Consecutive vec4s each invocation computes (unrolled, one bounds check for all of them). */
export const VEC4_PER_INVOCATION = 4;
/**
 * Below this many elements, a count that is not a multiple of 4 stays with the strided kernel:
 * the extra tail dispatch would cost more than the vec4 kernel saves.
 */
export const VEC4_MIN_WITH_TAIL = 1024;

/**
 * How the vec4 kernel reads an operand: `c` contiguous, `r` a row vector repeated along the rows,
 * `k` a column (one element per row, e.g. a [R,1] mean broadcast over [R,C]), `s` one scalar.
 */
export type VecMode = 'c' | 'r' | 'k' | 's';

/** What the vec4 kernel computes of a walk, when it can take it. */
export interface ContiguousPlan {
  /** vec4s computed: the walk's elements ÷ 4, rounded down. */
  vecs: number;
  /** Per operand (0 is the output, always `c`). */
  modes: VecMode[];
  /** Per operand: index of its first vec4 (`c`, `r`), or its element offset (`k`, `s`). */
  offsets: number[];
  /** Per operand: elements between consecutive rows' values of a `k` operand (0 for the others). */
  rowStrides: number[];
  /** vec4s per row of a rank-2 walk (1 for rank 1). */
  rowVecs: number;
}

/**
 * The vec4 plan for `walk` (the output's operand first), or null when the strided
 * kernel must do it all: the output is not contiguous, an operand is none of the
 * {@link VecMode}s, a vec4 operand does not start 4-aligned, or the walk is too small. In a
 * rank-2 walk the rows must hold whole vec4s, so that a vec4 never straddles two rows.
 */
export function contiguousPlan(walk: StridedWalk): ContiguousPlan | null {
  const rank = walk.shape.length;
  const n = walk.shape.reduce((a, b) => a * b, 1);
  if (n < 4 || (n % 4 !== 0 && n < VEC4_MIN_WITH_TAIL)) return null;
  if (rank !== 1 && rank !== 2) return null;
  const cols = walk.shape[rank - 1];
  if (rank === 2 && cols % 4 !== 0) return null;
  const modes: VecMode[] = [];
  const offsets: number[] = [];
  const rowStrides: number[] = [];
  for (let k = 0; k < walk.strides.length; k++) {
    const st = walk.strides[k];
    const inner = st[rank - 1];
    const outer = rank === 2 ? st[0] : 0;
    let mode: VecMode;
    if (inner === 1 && (rank === 1 || outer === cols)) mode = 'c';
    else if (inner === 1 && outer === 0) mode = 'r';
    else if (inner === 0 && outer === 0) mode = 's';
    else if (inner === 0) mode = 'k';
    else return null;
    if (k === 0 && mode !== 'c') return null;
    const offset = walk.offsets[k];
    const scalar = mode === 's' || mode === 'k';
    if (!scalar && offset % 4 !== 0) return null;
    modes.push(mode);
    offsets.push(scalar ? offset : offset / 4);
    rowStrides.push(mode === 'k' ? outer : 0);
  }
  return { vecs: Math.floor(n / 4), modes, offsets, rowStrides, rowVecs: rank === 2 ? cols / 4 : 1 };
}

/** The rest of a rank-1 walk after the plan's vec4s (null when nothing is left). */
export function tailWalk(walk: StridedWalk, plan: ContiguousPlan): StridedWalk | null {
  if (walk.shape.length !== 1) return null;
  const done = plan.vecs * 4;
  const left = walk.shape[0] - done;
  if (left === 0) return null;
  return {
    shape: [left],
    strides: walk.strides,
    offsets: walk.offsets.map((o, k) => o + walk.strides[k][0] * done),
  };
}

/** The vec4 kernel computing `spec` over `plan` (uniform words: count, op extras, offsets, row length). */
export function vec4Launch(spec: ElementwiseSpec, plan: ContiguousPlan, maxWorkgroups: number): Launch {
  const ops = spec.operands;
  const offsetAt = 1 + spec.extra.length;
  const rowAt = offsetAt + ops.length;
  const strideAt = rowAt + 1;
  const words = [plan.vecs, ...spec.extra, ...plan.offsets, plan.rowVecs, ...plan.rowStrides];
  const dtypes = ops.map((o) => o.dtype);
  const per = VEC4_PER_INVOCATION;
  const scalar = (k: number) => plan.modes[k] === 's' || plan.modes[k] === 'k';
  const index: Record<VecMode, (k: number) => string> = {
    c: (k) => `p(${offsetAt + k}u) + i`,
    r: (k) => `p(${offsetAt + k}u) + i % p(${rowAt}u)`,
    k: (k) => `p(${offsetAt + k}u) + i / p(${rowAt}u) * p(${strideAt + k}u)`,
    s: (k) => `p(${offsetAt + k}u)`,
  };
  const loads = ops.slice(1).map((o, j) => `let x${j + 1} = ${o.name}[${index[plan.modes[j + 1]](j + 1)}];`);
  const lane = (c: string) =>
    `elem(${ops
      .slice(1)
      .map((_, j) => (scalar(j + 1) ? `x${j + 1}` : `x${j + 1}.${c}`))
      .join(', ')})`;
  const out = ops[0];
  const build = () => `${enables(dtypes)}${uniforms(strideAt + ops.length)}${ops
    .map((o, k) =>
      scalar(k)
        ? dtypeBuffer(k + 1, o.name, o.access, o.dtype)
        : buffer(k + 1, o.name, o.access, `vec4<${storageType(o.dtype)}>`),
    )
    .join('')}${mathPrelude(dtypes.includes('float16'))}${spec.helpers ?? ''}${spec.elem}
fn vec_step(i: u32) {
  ${loads.join('\n  ')}
  ${out.name}[p(${offsetAt}u) + i] = vec4<${storageType(out.dtype)}>(${['x', 'y', 'z', 'w'].map(lane).join(', ')});
}
@compute @workgroup_size(${VEC4_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * ${VEC4_WORKGROUP}u) * ${per}u;
  let count = p(0u);
  if (first >= count) { return; }
  // past the end, repeat the last vec4 (same invocation, same value): one copy of the code, no branch
  let last = count - 1u;
  ${Array.from({ length: per }, (_, j) => (j === 0 ? 'vec_step(first);' : `vec_step(min(first + ${j}u, last));`)).join('\n  ')}
}
`;
  const invocations = Math.ceil(plan.vecs / per);
  return {
    kernel: { key: `${spec.key}:v4${plan.modes.slice(1).join('')}`, access: ops.map((o) => o.access), build },
    params: words,
    grid: grid2d(Math.ceil(invocations / VEC4_WORKGROUP), maxWorkgroups),
  };
}

/**
 * Byte offsets and length of `views` (same shape, same dtype) when each covers one contiguous
 * run of its buffer starting and ending 4-byte aligned: what `copyBufferToBuffer` and
 * `clearBuffer` accept. Null otherwise.
 */
export function alignedByteRanges(views: readonly View[]): { offsets: number[]; bytes: number } | null {
  const walk = collapseViews(views[0].shape, views);
  if (walk.shape.length > 1 || walk.strides.some((st) => st.length === 1 && st[0] !== 1)) return null;
  const size = deviceItemSize(views[0].dtype);
  const bytes = walk.shape.reduce((a, b) => a * b, 1) * size;
  const offsets = walk.offsets.map((o) => o * size);
  if (bytes % 4 !== 0 || offsets.some((o) => o % 4 !== 0)) return null;
  return { offsets, bytes };
}
