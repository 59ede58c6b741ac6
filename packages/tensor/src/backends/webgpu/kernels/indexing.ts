/**
 * Index kernels: gather and indexSelect (one kernel: out[i] = x[base(i) + index(i) · stride])
 * and scatterAdd, whose repeated indices need atomic read-modify-write.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { contiguousStrides, sizeOf } from '../../../shape.js';
import type { Launch } from '../executor.js';
import { collapse, packWalk, type StridedWalk, walkOffsets, walkVariant, walkWords } from './strided.js';
import {
  buffer,
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  uniforms,
} from './wgsl.js';

/** `strides` with the one of `axis` zeroed: the base position of a coordinate, before the index. */
function withoutAxis(strides: readonly number[], axis: number): number[] {
  return strides.map((s, d) => (d === axis ? 0 : s));
}

function gatherKernelLaunch(
  x: View,
  out: View,
  walk: StridedWalk,
  axisStride: number,
  n: number,
  maxWorkgroups: number,
): Launch {
  const variant = walkVariant(walk);
  const words = [n, axisStride];
  packWalk(words, walk);
  const dtypes = [x.dtype, out.dtype];
  return {
    kernel: {
      key: `gather:${x.dtype}:r${variant}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${enables(dtypes)}${uniforms(2 + walkWords(3))}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${buffer(2, 'index', 'read', 'i32')}${dtypeBuffer(3, 'x', 'read', x.dtype)}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  ${walkOffsets(3, 2, 'idx', variant)}
  let i = index[off1];
  out[off0] = x[off2 + u32(i) * p(1u)];
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/** out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis`; out has index's shape. */
export function gatherLaunch(x: View, axis: number, index: View, out: View, maxWorkgroups: number): Launch {
  const shape = index.shape;
  const walk = collapse(
    shape,
    [contiguousStrides(shape), index.strides, withoutAxis(x.strides, axis)],
    [out.offset, index.offset, x.offset],
  );
  return gatherKernelLaunch(x, out, walk, x.strides[axis], sizeOf(shape), maxWorkgroups);
}

/** out = x with `axis` replaced by the 1-D `index`. */
export function indexSelectLaunch(
  x: View,
  axis: number,
  index: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const shape = out.shape;
  // the index is read along `axis` only: stride 0 elsewhere
  const indexStrides = shape.map((_, d) => (d === axis ? index.strides[0] : 0));
  const walk = collapse(
    shape,
    [contiguousStrides(shape), indexStrides, withoutAxis(x.strides, axis)],
    [out.offset, index.offset, x.offset],
  );
  return gatherKernelLaunch(x, out, walk, x.strides[axis], sizeOf(shape), maxWorkgroups);
}

/** The atomic add of `v` (a compute-type value) to element `o` of `out`. */
function atomicAdd(dtype: DType): { decl: string; body: string } {
  switch (dtype) {
    case 'int32':
      return { decl: buffer(1, 'out', 'read_write', 'atomic<i32>'), body: 'atomicAdd(&out[o], v);' };
    case 'uint32':
      return { decl: buffer(1, 'out', 'read_write', 'atomic<u32>'), body: 'atomicAdd(&out[o], v);' };
    case 'bool':
      // the CPU stores (a + b) != 0, i.e. a logical or
      return {
        decl: buffer(1, 'out', 'read_write', 'atomic<u32>'),
        body: 'atomicOr(&out[o], select(0u, 1u, v != 0u));',
      };
    case 'float32':
      // WGSL has no float atomics: compare-exchange the bit pattern until no one raced us
      return {
        decl: buffer(1, 'out', 'read_write', 'atomic<u32>'),
        body: `var old = atomicLoad(&out[o]);
  loop {
    let next = bitcast<u32>(bitcast<f32>(old) + v);
    let r = atomicCompareExchangeWeak(&out[o], old, next);
    if (r.exchanged) { break; }
    old = r.old_value;
  }`,
      };
    case 'float16':
      // two halves share a 32-bit word: compare-exchange the word, changing only our half
      return {
        decl: buffer(1, 'out', 'read_write', 'atomic<u32>'),
        body: `let word = o / 2u;
  let half = o % 2u;
  var old = atomicLoad(&out[word]);
  loop {
    var pair = unpack2x16float(old);
    pair[half] = pair[half] + v;
    let r = atomicCompareExchangeWeak(&out[word], old, pack2x16float(pair));
    if (r.exchanged) { break; }
    old = r.old_value;
  }`,
      };
  }
}

/** In place: out[..., index[..., i, ...], ...] += src[..., i, ...] along `axis`. */
export function scatterAddLaunch(
  out: View,
  axis: number,
  index: View,
  src: View,
  maxWorkgroups: number,
): Launch {
  const shape = index.shape;
  const walk = collapse(
    shape,
    [index.strides, src.strides, withoutAxis(out.strides, axis)],
    [index.offset, src.offset, out.offset],
  );
  const variant = walkVariant(walk);
  const n = sizeOf(shape);
  const words = [n, out.strides[axis]];
  packWalk(words, walk);
  const add = atomicAdd(out.dtype);
  return {
    kernel: {
      key: `scatter_add:${out.dtype}:r${variant}`,
      access: ['read_write', 'read', 'read'],
      build:
        () => `${enables([src.dtype])}${uniforms(2 + walkWords(3))}${add.decl}${buffer(2, 'index', 'read', 'i32')}${dtypeBuffer(3, 'src', 'read', src.dtype)}${mathPrelude(src.dtype === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  ${walkOffsets(3, 2, 'idx', variant)}
  let o = off2 + u32(index[off0]) * p(1u);
  let v = ${load(src.dtype, 'src', 'off1')};
  ${add.body}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}
