/**
 * The fused matmul epilogue every kernel variant applies where it stores an output:
 * `out = act(acc + bias[col])`, and optionally `preActivation = acc + bias` (see
 * {@link MatmulEpilogue}). Each variant calls the generated WGSL function
 * `finish(idx, col, acc)` instead of writing `out[idx]` itself, so the variants only need to know
 * the output column of each store; this file owns the extra bindings (bias, then preActivation,
 * each only when present), their uniform words and the pipeline-key suffix.
 */
import type { MatmulActivation, MatmulEpilogue, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Access } from '../pipelines.js';
import { floatUnary } from './elementwise.js';
import { P } from './matmul-params.js';
import { dtypeBuffer } from './wgsl.js';

/** The epilogue as the kernels see it (storage type left open: kernels only read views' metadata). */
export type KernelEpilogue = MatmulEpilogue<unknown>;

/** The activation of compute-type value `v`: the elementwise unary kernels' own expression. */
function activation(act: MatmulActivation, v: string): string {
  return act === 'none' ? v : floatUnary(act, v);
}

/** Pipeline-key suffix: which extra bindings exist and the activation ('' for a plain product). */
export function epilogueKey(e: KernelEpilogue | undefined): string {
  if (!e || (!e.bias && !e.preActivation && e.activation === 'none')) return '';
  return `:epi${e.bias ? '+bias' : ''}${e.preActivation ? '+pre' : ''}+${e.activation}`;
}

/** Access modes of the extra bindings after out, a, b: bias (read), then preActivation (write). */
export function epilogueAccess(e: KernelEpilogue | undefined): Access[] {
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
