/**
 * One-pass attention backward on the subgroup layout of attention-subgroup.ts: one 8-lane
 * workgroup per key/value head walks that head's key blocks in order and, for each block and
 * each query that sees it, computes the probabilities and dS once and uses them three times:
 * dk and dv of the block (registers) and the query's dq row, which it updates in memory. The
 * two-kernel backward computes q·k and dO·v twice (once for dq, once for dk/dv); this one does it
 * once. dq stays deterministic without atomics because only this workgroup touches its heads'
 * dq rows, always in key-block order; the first block writes the row, later blocks add to it.
 * The catch is parallelism, one workgroup per (batch, kv head): the backend picks this kernel
 * only where that fills the cores, for float32 (a float16 dq would round at every block), and
 * where 9 storage buffers per stage are allowed.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { backwardInputs, operands } from './attention.js';
import {
  chunksFor,
  header,
  keyRow,
  keyRowStores,
  keyStep,
  laneLoad,
  laneStore,
  queryLoads,
  unrolled,
} from './attention-subgroup.js';
import { grid2d } from './wgsl.js';

/** Keys per block: one vec4 of probabilities per step. */
const R = 4;

/** dq, dk and dv in one launch; see attentionBackwardQueryLaunch and attentionBackwardKeyLaunch for the math. */
export function attentionBackwardOnePassLaunch(
  q: View,
  k: View,
  v: View,
  lse: View,
  delta: View,
  gradOut: View,
  causal: boolean,
  scale: number,
  dq: View,
  dk: View,
  dv: View,
  maxWorkgroups: number,
): Launch {
  const dt = q.dtype;
  const [B, Hkv, Tk, D] = k.shape;
  const nb = Math.ceil(Tk / R);
  const C = chunksFor(D);
  const inputs = backwardInputs(q, k, v, lse, delta, gradOut);
  const { words, access, declarations } = operands(q, k, causal, scale, inputs, { dq, dk, dv }, [nb]);
  const { rows, chunks, each } = unrolled(R, C, 4);
  return {
    kernel: {
      key: `attention_backward_onepass_sg:${dt}:${C}`,
      access,
      build: () => `${header(declarations)}
  let G = p(2u);
  let nb = p(19u);
  if (row >= p(9u) / Tk) { return; }
  let bhk = row;
  let hk = bhk % p(8u); let b = bhk / p(8u);
  let causal = p(6u) != 0u;
  for (var kb = 0u; kb < nb; kb = kb + 1u) {
    let j0 = kb * ${R}u;
${rows.map((r) => `    let y${r} = bhk * Tk + min(j0 + ${r}u, Tk - 1u);`).join('\n')}
${each(keyRow(dt))}
    // key j is seen by queries i >= j - (Tk - Tq) when causal; keys past Tk (a clamped copy of
    // the last) by none, so they add nothing to dq
    let jv = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
    let iStart = select(select(vec4<u32>(0u), max(jv + Tq, vec4<u32>(Tk)) - Tk, causal), vec4<u32>(Tq), jv >= vec4<u32>(Tk));
    let iAll = select(0u, max(j0 + Tq, Tk) - Tk, causal);
    for (var g = 0u; g < G; g = g + 1u) {
      let rowBase = (b * p(1u) + hk * G + g) * Tq;
      for (var i = iAll; i < Tq; i = i + 1u) {
        let r = rowBase + i;
        let qb = p(10u) + r * D;
        let gb = p(15u) + r * D;
        let db = p(16u) + r * D;
${queryLoads(dt, C, '        ')}
${keyStep(C, 0, 'iStart', '        ')}
        // dq_i += Σ_j dS_ij · scale · k_j over this block, in key order; block 0 (seen by every
        // query) starts the row
${chunks
  .map((c) => {
    const sum = rows.map((u) => `ds[${u}] * k${u}_${c}`).join(' + ');
    return `        {
          var acc = ${sum};
          if (kb > 0u) { acc = ${laneLoad(dt, 'dq', 'db', c)} + acc; }
          ${laneStore(dt, 'dq', 'db', c, 'acc')}
        }`;
  })
  .join('\n')}
      }
    }
${keyRowStores(dt, R, C, 17, '    ')}
  }
}
`,
    },
    params: words,
    grid: grid2d(B * Hkv, maxWorkgroups),
  };
}
