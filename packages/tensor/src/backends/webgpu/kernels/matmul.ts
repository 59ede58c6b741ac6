/**
 * Batched matrix product out[b] = a[b] @ b[b] over arbitrary strides (batch stride 0 for
 * broadcast operands, transposed operands read in place): the list of kernel variants
 * ({@link MATMUL_VARIANTS}; the others live in matmul-*.ts), which operands each applies to, and
 * their launches. Which variant runs is decided in ../autotune.ts.
 *
 * This file's own kernel is register-blocked tiling: a workgroup computes a TM×TN tile of the output; each invocation
 * owns a 4×4 block of it (rows ty + i·WY, columns tx + j·WX), so one pair of loads from
 * workgroup memory feeds 16 multiply-adds. A and B are staged through workgroup memory TK
 * columns/rows at a time, zero-padded at the matrix edges so any M, N, K works.
 */
import type { View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { type BandShape, bandLaunches } from './matmul-band.js';
import { epilogueSource, type KernelEpilogue, matmulLaunches } from './matmul-epilogue.js';
import { innerVec4Aligned, MATMUL_PROLOGUE, MATMUL_WORDS, P } from './matmul-params.js';
import { rowvecLaunches, rowvecLayout } from './matmul-rowvec.js';
import { splitkApplies, splitkLaunches } from './matmul-splitk.js';
import { subgroupBandLaunches } from './matmul-subgroup.js';
import { dtypeBuffer, enables, load, mathPrelude, uniforms } from './wgsl.js';

/** A tile configuration. Each invocation computes 4×4 outputs, so TM = 4·WY and TN = 4·WX. */
export interface MatmulTile {
  tm: number;
  tn: number;
  tk: number;
}

/** 64×64 tiles (256 invocations) for large products; 32×32 (64 invocations) when M or N is small. */
export const LARGE_TILE: MatmulTile = { tm: 64, tn: 64, tk: 16 };
export const SMALL_TILE: MatmulTile = { tm: 32, tn: 32, tk: 16 };

// uniform words (shared by all variants, see matmul-params.ts); the spare word holds the tile depth
/** The tile depth again, as a uniform: see the inner loop. */
const TK = P.EXTRA;

function matmulSource(dtype: DType, tile: MatmulTile, epilogue: KernelEpilogue | undefined): string {
  const { tm, tn, tk } = tile;
  const wx = tn / 4;
  const wy = tm / 4;
  const threads = wx * wy;
  const aLoads = (tm * tk) / threads;
  const bLoads = (tk * tn) / threads;
  const rows = [0, 1, 2, 3];
  return `${enables([dtype])}${uniforms(MATMUL_WORDS)}${dtypeBuffer(1, 'out', 'read_write', dtype)}${dtypeBuffer(2, 'a', 'read', dtype)}${dtypeBuffer(3, 'b', 'read', dtype)}${mathPrelude(dtype === 'float16')}${epilogueSource(dtype, epilogue)}
// k-major tiles: As[k][m], Bs[k][n]
var<workgroup> As: array<f32, ${tk * tm}>;
var<workgroup> Bs: array<f32, ${tk * tn}>;

@compute @workgroup_size(${wx}, ${wy}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${MATMUL_PROLOGUE}
  let m0 = wid.y * ${tm}u;
  let n0 = wid.x * ${tn}u;
  let tx = lid3.x;
  let ty = lid3.y;
${rows.map((i) => `  var acc${i} = vec4<f32>(0.0);`).join('\n')}
  for (var k0 = 0u; k0 < K; k0 = k0 + ${tk}u) {
    for (var t = 0u; t < ${aLoads}u; t = t + 1u) {
      let e = lid + t * ${threads}u;
      let mm = e / ${tk}u;
      let kk = e % ${tk}u;
      let gm = m0 + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gm < M && gk < K) { v = ${load(dtype, 'a', 'aBase + gm * aRow + gk * aCol')}; }
      As[kk * ${tm}u + mm] = v;
    }
    for (var t = 0u; t < ${bLoads}u; t = t + 1u) {
      let e = lid + t * ${threads}u;
      let kk = e / ${tn}u;
      let nn = e % ${tn}u;
      let gk = k0 + kk;
      let gn = n0 + nn;
      var v = 0.0;
      if (gk < K && gn < N) { v = ${load(dtype, 'b', 'bBase + gk * bRow + gn * bCol')}; }
      Bs[kk * ${tn}u + nn] = v;
    }
    workgroupBarrier();
    // The bound is the tile depth read from a uniform: with a constant, llvmpipe unrolls this loop
    // between barriers and spends seconds compiling; GPU drivers still unroll as they see fit.
    for (var kk = 0u; kk < p(${TK}u); kk = kk + 1u) {
      let ar = kk * ${tm}u + ty;
      let a = vec4<f32>(As[ar], As[ar + ${wy}u], As[ar + ${2 * wy}u], As[ar + ${3 * wy}u]);
      let br = kk * ${tn}u + tx;
      let b = vec4<f32>(Bs[br], Bs[br + ${wx}u], Bs[br + ${2 * wx}u], Bs[br + ${3 * wx}u]);
      acc0 = acc0 + a.x * b;
      acc1 = acc1 + a.y * b;
      acc2 = acc2 + a.z * b;
      acc3 = acc3 + a.w * b;
    }
    workgroupBarrier();
  }
  let outBase = p(${P.OUT}u) + batch * M * N;
${rows
  .map(
    (i) => `  {
    let gm = m0 + ty + ${i * wy}u;
    if (gm < M) {
${rows
  .map(
    (j) =>
      `      if (n0 + tx + ${j * wx}u < N) { finish(outBase + gm * N + n0 + tx + ${j * wx}u, n0 + tx + ${j * wx}u, acc${i}[${j}]); }`,
  )
  .join('\n')}
    }
  }`,
  )
  .join('\n')}
}
`;
}

/** Launches of the tiled kernel with `tile`. */
function tiledLaunches(
  a: View,
  b: View,
  out: View,
  tile: MatmulTile,
  maxWorkgroups: number,
  epilogue: KernelEpilogue | undefined,
): Launch[] {
  const m = a.shape[1];
  const n = b.shape[2];
  return matmulLaunches(
    `matmul:${a.dtype}:${tile.tm}x${tile.tn}x${tile.tk}`,
    () => matmulSource(a.dtype, tile, epilogue),
    a,
    b,
    out,
    [Math.ceil(n / tile.tn), Math.ceil(m / tile.tm)],
    maxWorkgroups,
    epilogue,
    tile.tk,
  );
}

/**
 * The matmul kernel variants. Every variant computes the same thing for any operands it
 * applies to (f32 accumulation, any strides, batch broadcast); they differ in how work maps to
 * invocations, which is what suits one adapter or shape better than another.
 */
export const MATMUL_VARIANTS = [
  /** Register-blocked 64×64 tiles through workgroup memory: the classic GPU kernel. */
  'tiled64',
  /** The same with 32×32 tiles, for small M or N. */
  'tiled32',
  /** Band (no workgroup memory): 8 rows × 1 column per invocation, scalar loads, any strides. */
  'band8x1',
  /** Band, 4 rows × 2 columns per invocation. */
  'band4x2',
  /** Band, 8 rows, A read as uniform vec4 along K (f16: pairs packed in u32). Needs contiguous, aligned A rows. */
  'bandv8x1',
  /** Band, 12 rows, vec4 A. */
  'bandv12x1',
  /** Band, 4 rows × 2 columns, vec4 A. */
  'bandv4x2',
  /** Band with A shared by subgroupBroadcast, 8 rows × 1 column per lane, any B strides. Needs subgroups. */
  'sgband8',
  /** Subgroup band, 4 rows × 4 columns (vec4 B; f16 packed in u32). Needs subgroups and aligned B rows. */
  'sgbandv4',
  /** Subgroup band, 16 rows × 1 column per lane. */
  'sgband16',
  /**
   * Subgroup band, 12 rows × 2 columns per lane: each broadcast A value feeds 2 FMAs and each
   * gathered B value 12 (lavapipe: ~1.5× less CPU per product than sgband16).
   */
  'sgband12x2',
  /**
   * Subgroup row-vec (matmul-rowvec.ts): 16 rows × one vec4 of columns per lane, 16-lane
   * workgroups, A broadcast as vec4s along K, B read as vec4s; transposed operands are read
   * along their contiguous dimension. Needs subgroups, K % 4 = 0 and 4-aligned operands.
   */
  'sgrowv16',
  /** Subgroup row-vec with 64-lane workgroups. */
  'sgrowv16w64',
  /** Subgroup row-vec with 8 rows per lane (small M). */
  'sgrowv8',
  /** One workgroup per output, lanes split K: matrix-vector (N = 1) and small outputs with long K. */
  'splitk',
] as const;

/** Band shapes of the band variants. */
const BANDS: Record<string, BandShape> = {
  band8x1: { rm: 8, cn: 1, vec4: false },
  band4x2: { rm: 4, cn: 2, vec4: false },
  bandv8x1: { rm: 8, cn: 1, vec4: true },
  bandv12x1: { rm: 12, cn: 1, vec4: true },
  bandv4x2: { rm: 4, cn: 2, vec4: true },
};

export type MatmulVariant = (typeof MATMUL_VARIANTS)[number];

export function isMatmulVariant(name: string): name is MatmulVariant {
  return (MATMUL_VARIANTS as readonly string[]).includes(name);
}

/** Does `variant` handle these operands (alignment, grid limits)? */
export function matmulVariantApplies(
  variant: MatmulVariant,
  a: View,
  b: View,
  maxWorkgroups: number,
  subgroups: boolean,
): boolean {
  const [, m] = a.shape;
  const n = b.shape[2];
  if (variant.startsWith('sgrowv')) return subgroups && rowvecLayout(a, b) !== undefined;
  if (variant.startsWith('sg')) return subgroups && (variant !== 'sgbandv4' || innerVec4Aligned(b));
  if (variant === 'splitk') return splitkApplies(m, n, maxWorkgroups);
  const band = BANDS[variant];
  return band ? !band.vec4 || innerVec4Aligned(a) : true;
}

/**
 * Launches of `variant` (which must apply) for `a` [B,M,K] @ `b` [B,K,N] → contiguous `out`,
 * applying `epilogue` (bias, activation, preActivation: see matmul-epilogue.ts) where it stores.
 * Buffers to bind: out, a, b, then the epilogue's (`epilogueViews` in matmul-epilogue.ts).
 */
export function matmulVariantLaunches(
  variant: MatmulVariant,
  a: View,
  b: View,
  out: View,
  maxWorkgroups: number,
  epilogue?: KernelEpilogue,
): Launch[] {
  const [, m, k] = a.shape;
  const n = b.shape[2];
  // known flops let the executor predict how long a readback waits (grid z = batches launched)
  return variantLaunches(variant, a, b, out, maxWorkgroups, epilogue).map((l) => ({
    ...l,
    flops: 2 * l.grid[2] * m * n * k,
  }));
}

function variantLaunches(
  variant: MatmulVariant,
  a: View,
  b: View,
  out: View,
  maxWorkgroups: number,
  epilogue: KernelEpilogue | undefined,
): Launch[] {
  switch (variant) {
    case 'tiled64':
      return tiledLaunches(a, b, out, LARGE_TILE, maxWorkgroups, epilogue);
    case 'tiled32':
      return tiledLaunches(a, b, out, SMALL_TILE, maxWorkgroups, epilogue);
    case 'splitk':
      return splitkLaunches(a, b, out, maxWorkgroups, epilogue);
    case 'sgband8':
      return subgroupBandLaunches(a, b, out, { rm: 8, vec4: false }, maxWorkgroups, epilogue);
    case 'sgbandv4':
      return subgroupBandLaunches(a, b, out, { rm: 4, vec4: true }, maxWorkgroups, epilogue);
    case 'sgband16':
      return subgroupBandLaunches(a, b, out, { rm: 16, vec4: false }, maxWorkgroups, epilogue);
    case 'sgband12x2':
      return subgroupBandLaunches(a, b, out, { rm: 12, vec4: false, cn: 2 }, maxWorkgroups, epilogue);
    case 'sgrowv16':
      return rowvecLaunches(a, b, out, { rm: 16, wg: 16 }, maxWorkgroups, epilogue);
    case 'sgrowv16w64':
      return rowvecLaunches(a, b, out, { rm: 16, wg: 64 }, maxWorkgroups, epilogue);
    case 'sgrowv8':
      return rowvecLaunches(a, b, out, { rm: 8, wg: 16 }, maxWorkgroups, epilogue);
    default:
      return bandLaunches(a, b, out, BANDS[variant], maxWorkgroups, epilogue);
  }
}
