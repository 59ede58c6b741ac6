/**
 * The permutation and combine kernels of a mixture of experts (`ops/slot-rows.ts`): rows move
 * between tokens (x [N, D]) and slots (y [R, D]) through `slots` (int32 [N, k], −1 = none),
 * optionally scaled by `gates` [N, k]. All operands contiguous.
 *
 * - dispatch: one invocation per (pair, column) writes its slot's element (the caller zero-fills
 *   the rows nobody names; slots are distinct, so no atomics);
 * - combine: one invocation per (token, column) sums its k slots in choice order (deterministic);
 * - slot dots: one invocation per pair, a dot product over D.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import {
  buffer,
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  store,
  uniforms,
} from './wgsl.js';

/** WGSL: the gate of pair i (1 without gates). */
function gateOf(gates: View | null, binding: number): { decl: string; expr: (i: string) => string } {
  if (!gates) return { decl: '', expr: () => '1.0' };
  return {
    decl: dtypeBuffer(binding, 'gates', 'read', gates.dtype),
    expr: (i) => load(gates.dtype, 'gates', `p(6u) + ${i}`),
  };
}

function flat(n: number, maxWorkgroups: number): [number, number, number] {
  return grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups);
}

/** out[slots[n, j]] = gates[n, j]·x[n], out [R, D] zero-filled by the caller. */
export function dispatchRowsLaunch(
  x: View,
  slots: View,
  gates: View | null,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [N, D] = x.shape;
  const k = slots.shape[1];
  const R = out.shape[0];
  const dt = x.dtype;
  const g = gateOf(gates, 4);
  // words: 0 N·k·D, 1 D, 2 k, 3 R, 4 x offset, 5 slots offset, 6 gates offset, 7 out offset
  const words = [N * k * D, D, k, R, x.offset, slots.offset, gates?.offset ?? 0, out.offset];
  return {
    kernel: {
      key: `dispatch_rows:${dt}:${gates ? 'gated' : 'plain'}`,
      access: gates ? ['read_write', 'read', 'read', 'read'] : ['read_write', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'x', 'read', dt)}${buffer(3, 'slots', 'read', 'i32')}${g.decl}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let D = p(1u);
  let pair = idx / D;
  let c = idx % D;
  let s = slots[p(5u) + pair];
  if (s < 0 || u32(s) >= p(3u)) { return; }
  let v = ${g.expr('pair')} * ${load(dt, 'x', 'p(4u) + (pair / p(2u)) * D + c')};
  ${store(dt, 'out', 'p(7u) + u32(s) * D + c', 'v')}
}
`,
    },
    params: words,
    grid: flat(N * k * D, maxWorkgroups),
  };
}

/** out[n] = Σ_j gates[n, j]·y[slots[n, j]], out [N, D]. */
export function combineRowsLaunch(
  y: View,
  slots: View,
  gates: View | null,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [N, k] = slots.shape;
  const [R, D] = y.shape;
  const dt = y.dtype;
  const g = gateOf(gates, 4);
  const words = [N * D, D, k, R, y.offset, slots.offset, gates?.offset ?? 0, out.offset];
  return {
    kernel: {
      key: `combine_rows:${dt}:${gates ? 'gated' : 'plain'}`,
      access: gates ? ['read_write', 'read', 'read', 'read'] : ['read_write', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'y', 'read', dt)}${buffer(3, 'slots', 'read', 'i32')}${g.decl}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let D = p(1u);
  let k = p(2u);
  let n = idx / D;
  let c = idx % D;
  var acc = 0.0;
  for (var j = 0u; j < k; j = j + 1u) {
    let s = slots[p(5u) + n * k + j];
    if (s < 0 || u32(s) >= p(3u)) { continue; }
    acc = acc + ${g.expr('n * k + j')} * ${load(dt, 'y', 'p(4u) + u32(s) * D + c')};
  }
  ${store(dt, 'out', 'p(7u) + idx', 'acc')}
}
`,
    },
    params: words,
    grid: flat(N * D, maxWorkgroups),
  };
}

/** out[n, j] = x[n]·y[slots[n, j]], out [N, k]. */
export function slotDotsLaunch(x: View, y: View, slots: View, out: View, maxWorkgroups: number): Launch {
  const [N, k] = slots.shape;
  const [R, D] = y.shape;
  const dt = x.dtype;
  // words: 0 N·k, 1 D, 2 k, 3 R, 4 x offset, 5 slots offset, 6 y offset, 7 out offset
  const words = [N * k, D, k, R, x.offset, slots.offset, y.offset, out.offset];
  return {
    kernel: {
      key: `slot_dots:${dt}`,
      access: ['read_write', 'read', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'x', 'read', dt)}${buffer(3, 'slots', 'read', 'i32')}${dtypeBuffer(4, 'y', 'read', dt)}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let D = p(1u);
  let s = slots[p(5u) + idx];
  var acc = 0.0;
  if (s >= 0 && u32(s) < p(3u)) {
    let xb = p(4u) + (idx / p(2u)) * D;
    let yb = p(6u) + u32(s) * D;
    for (var c = 0u; c < D; c = c + 1u) {
      acc = acc + ${load(dt, 'x', 'xb + c')} * ${load(dt, 'y', 'yb + c')};
    }
  }
  ${store(dt, 'out', 'p(7u) + idx', 'acc')}
}
`,
    },
    params: words,
    grid: flat(N * k, maxWorkgroups),
  };
}
