/**
 * The fused matmul epilogue every kernel variant applies where it stores an output:
 * `out = act(acc + bias[col])`, and optionally `preActivation = acc + bias` (see
 * {@link MatmulEpilogue}). Each variant calls the generated WGSL function
 * `finish(idx, col, acc)` instead of writing `out[idx]` itself, so the variants only need to know
 * the output column of each store; this file owns the extra bindings (bias, then preActivation,
 * each only when present), their uniform words and the pipeline-key suffix, and
 * {@link matmulLaunches}, which every variant's launches go through.
 */
import { activationKernel, type MatmulActivation, type MatmulEpilogue, type View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import type { Access } from '../pipelines.js';
import { floatUnary } from './elementwise.js';
import { matmulParams, P } from './matmul-params.js';
import { dtypeBuffer } from './wgsl.js';

/** The epilogue as the kernels see it (storage type left open: kernels only read views' metadata). */
export type KernelEpilogue = MatmulEpilogue<unknown>;

/** The activation of compute-type value `v`: the elementwise unary kernels' own expression. */
function activation(act: MatmulActivation, v: string): string {
  return act === 'none' ? v : floatUnary(activationKernel(act), v);
}

/** Pipeline-key suffix: which extra bindings exist and the activation ('' for a plain product). */
function epilogueKey(e: KernelEpilogue | undefined): string {
  if (!e || (!e.bias && !e.preActivation && e.activation === 'none')) return '';
  return `:epi${e.bias ? '+bias' : ''}${e.preActivation ? '+pre' : ''}+${e.activation}`;
}

/** Access modes of the extra bindings after out, a, b: bias (read), then preActivation (write). */
function epilogueAccess(e: KernelEpilogue | undefined): Access[] {
  const access: Access[] = [];
  if (e?.bias) access.push('read');
  if (e?.preActivation) access.push('read_write');
  return access;
}

/** The views to bind after out, a, b, in binding order. */
export function epilogueViews(e: KernelEpilogue | undefined): View[] {
  const views: View[] = [];
  if (e?.bias) views.push(e.bias as View);
  if (e?.preActivation) views.push(e.preActivation as View);
  return views;
}

/**
 * WGSL: the extra buffer declarations and `finish(idx, col, acc)`, which stores output element
 * `idx` (an index into `out`) of column `col`. Place after `mathPrelude` (it uses `to_f16`,
 * `is_nan`, `gelu_erf`, `gelu_tanh`); `out` must be declared by the kernel.
 */
export function epilogueSource(dtype: DType, e: KernelEpilogue | undefined): string {
  const half = dtype === 'float16';
  const cast = (v: string) => (half ? `to_f16(${v})` : v);
  let binding = 4;
  let decls = '';
  const body: string[] = [];
  let v = 'acc';
  if (e?.bias) {
    decls += dtypeBuffer(binding++, 'bias', 'read', dtype);
    body.push(`  let v = acc + f32(bias[p(${P.BIAS}u) + col * p(${P.BIAS_STRIDE}u)]);`);
    v = 'v';
  }
  if (e?.preActivation) {
    decls += dtypeBuffer(binding++, 'pre', 'read_write', dtype);
    body.push(`  pre[idx + p(${P.PRE_DELTA}u)] = ${cast(v)};`);
  }
  body.push(`  out[idx] = ${cast(activation(e?.activation ?? 'none', v))};`);
  return `${decls}fn finish(idx: u32, col: u32, acc: f32) {
${body.join('\n')}
}
`;
}

/**
 * Launches of a matmul variant's kernel (pipeline key `key` plus the epilogue's suffix, built by
 * `build`) for `a` [B,M,K] @ `b` [B,K,N] → `out`: a `grid` of workgroups per batch, the batches
 * split by the grid's z limit. Binds out, a, b, then {@link epilogueViews}; `extra` is the
 * variant's own uniform word ({@link P.EXTRA}).
 */
export function matmulLaunches(
  key: string,
  build: () => string,
  a: View,
  b: View,
  out: View,
  grid: readonly [number, number],
  maxWorkgroups: number,
  epilogue: KernelEpilogue | undefined,
  extra = 0,
): Launch[] {
  const kernel = {
    key: `${key}${epilogueKey(epilogue)}`,
    access: ['read_write', 'read', 'read', ...epilogueAccess(epilogue)] as const,
    build,
  };
  const batches = a.shape[0];
  const launches: Launch[] = [];
  for (let start = 0; start < batches; start += maxWorkgroups) {
    const count = Math.min(maxWorkgroups, batches - start);
    launches.push({
      kernel,
      params: matmulParams(a, b, out, start, extra, epilogue),
      grid: [grid[0], grid[1], count],
    });
  }
  return launches;
}
