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
import { commonWords } from './attention.js';
import { chunksFor, header, laneLoad, laneStore, partial, quad, unrolled } from './attention-subgroup.js';
import { dtypeBuffer, grid2d, load } from './wgsl.js';

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
  const words = [
    ...commonWords(q, k, causal, scale),
    q.offset,
    k.offset,
    v.offset,
    lse.offset,
    delta.offset,
    gradOut.offset,
    dq.offset,
    dk.offset,
    dv.offset,
    nb,
  ];
  const { rows, chunks, each } = unrolled(R, C, 4);
  const bindings = `${dtypeBuffer(1, 'dq', 'read_write', dt)}${dtypeBuffer(2, 'dk', 'read_write', dt)}${dtypeBuffer(3, 'dv', 'read_write', dt)}${dtypeBuffer(4, 'q', 'read', dt)}${dtypeBuffer(5, 'k', 'read', dt)}${dtypeBuffer(6, 'v', 'read', dt)}${dtypeBuffer(7, 'lse', 'read', dt)}${dtypeBuffer(8, 'delta', 'read', dt)}${dtypeBuffer(9, 'gout', 'read', dt)}`;
  return {
    kernel: {
      key: `attention_backward_onepass_sg:${dt}:${C}`,
      access: ['read_write', 'read_write', 'read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
      build: () => `${header(dt, words.length, bindings)}
  let G = p(2u);
  let nb = p(19u);
  if (row >= p(9u) / Tk) { return; }
  let bhk = row;
  let hk = bhk % p(8u); let b = bhk / p(8u);
  let causal = p(6u) != 0u;
  for (var kb = 0u; kb < nb; kb = kb + 1u) {
    let j0 = kb * ${R}u;
${rows.map((r) => `    let y${r} = bhk * Tk + min(j0 + ${r}u, Tk - 1u);`).join('\n')}
${each(
  (r, c) =>
    `var k${r}_${c} = ${laneLoad(dt, 'k', `p(11u) + y${r} * D`, c)} * scale; var v${r}_${c} = ${laneLoad(dt, 'v', `p(12u) + y${r} * D`, c)}; var dk${r}_${c} = vec4<f32>(0.0); var dv${r}_${c} = vec4<f32>(0.0);`,
)}
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
${chunks.map((c) => `        let q${c} = ${laneLoad(dt, 'q', 'qb', c)};\n        let o${c} = ${laneLoad(dt, 'gout', 'gb', c)};`).join('\n')}
        let L = ${load(dt, 'lse', 'p(13u) + r')};
        let dl = ${load(dt, 'delta', 'p(14u) + r')};
        let s = subgroupAdd(${quad(0, (r) => partial('k', 'q', r, C))});
        let dp = subgroupAdd(${quad(0, (r) => partial('v', 'o', r, C))});
        let pr = select(vec4<f32>(0.0), exp(s - L), vec4<u32>(i) >= iStart);
        let ds = pr * (dp - dl);
${rows
  .flatMap((u) =>
    chunks.map(
      (c) =>
        `        dv${u}_${c} = dv${u}_${c} + pr[${u}] * o${c};\n        dk${u}_${c} = dk${u}_${c} + ds[${u}] * q${c};`,
    ),
  )
  .join('\n')}
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
${rows
  .map(
    (r) => `    if (j0 + ${r}u < Tk) {
${chunks.map((c) => `      ${laneStore(dt, 'dk', `p(17u) + y${r} * D`, c, `dk${r}_${c} * scale`)}\n      ${laneStore(dt, 'dv', `p(18u) + y${r} * D`, c, `dv${r}_${c}`)}`).join('\n')}
    }`,
  )
  .join('\n')}
  }
}
`,
    },
    params: words,
    grid: grid2d(B * Hkv, maxWorkgroups),
  };
}
