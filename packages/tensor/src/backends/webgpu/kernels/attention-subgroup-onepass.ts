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
 * where 9 storage buffers per stage are allowed (10 with a mask's ranges).
 *
 * With visible ranges, a key block loops over the union of the query ranges of its keys (each key
 * selects its own), and no block is seen by every query: the caller zeroes dq first and every
 * block adds to it, which leaves the rows of queries that see no key at 0.
 */
import type { AttentionArgs, AttentionGrads, AttentionSaved, View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import { backwardInputs, maskedKey, operands } from './attention.js';
import {
  chunksFor,
  header,
  keyRanges,
  keyRow,
  keyRowStores,
  keyStep,
  laneLoad,
  laneStore,
  queryLoads,
  seesQuery,
  unrolled,
} from './attention-subgroup.js';
import { grid2d } from './wgsl.js';

/** Keys per block: one vec4 of probabilities per step. */
const R = 4;

/**
 * dq, dk and dv in one launch; see attentionBackwardQueryLaunch and attentionBackwardKeyLaunch
 * for the math. With the mask's ranges, dq must hold zeros when the launch starts.
 */
export function attentionBackwardOnePassLaunch(
  args: AttentionArgs<View>,
  saved: AttentionSaved<View>,
  { dq, dk, dv }: AttentionGrads<View>,
  maxWorkgroups: number,
): Launch {
  const { k } = args;
  const dt = k.dtype;
  const [B, Hkv, Tk, D] = k.shape;
  const nb = Math.ceil(Tk / R);
  const C = chunksFor(D);
  const inputs = backwardInputs(args, saved);
  const { words, access, declarations, masked } = operands(args, 'queries', inputs, { dq, dk, dv }, [nb]);
  const { rows, chunks, each } = unrolled(R, C, 4);
  const causalStarts = `    // key j is seen by queries i >= j - (Tk - Tq) when causal; keys past Tk (a clamped copy of
    // the last) by none, so they add nothing to dq
    let jv = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
    let iStart = select(select(vec4<u32>(0u), max(jv + Tq, vec4<u32>(Tk)) - Tk, causal), vec4<u32>(Tq), jv >= vec4<u32>(Tk));
    let iAll = select(0u, max(j0 + Tq, Tk) - Tk, causal);`;
  // keys past Tk see no query in keyRanges, so they add nothing to dq either
  const maskedStarts = keyRanges(R, '    ');
  // dq: unmasked, block 0 (seen by every query) starts the row; masked, the row starts at zero
  const dqNote = `        // dq_i += Σ_j dS_ij · scale · k_j over this block, in key order; block 0 (seen by every
        // query) starts the row`;
  const dqMaskedNote =
    '        // dq_i += Σ_j dS_ij · scale · k_j over this block, in key order, onto the zeros';
  const dqSum = (c: number) => {
    const sum = rows.map((u) => `ds[${u}] * k${u}_${c}`).join(' + ');
    return masked
      ? `var acc = ${laneLoad(dt, 'dq', 'db', c)} + (${sum});`
      : `var acc = ${sum};
          if (kb > 0u) { acc = ${laneLoad(dt, 'dq', 'db', c)} + acc; }`;
  };
  return {
    kernel: {
      key: `attention_backward_onepass_sg:${dt}:${C}${maskedKey(masked)}`,
      access,
      build: () => `${header(declarations)}
  let G = p(2u);
  let nb = p(19u);
  if (row >= p(9u) / Tk) { return; }
  let bhk = row;
  let hk = bhk % p(8u); let b = bhk / p(8u);${masked ? '' : '\n  let causal = p(6u) != 0u;'}
  for (var kb = 0u; kb < nb; kb = kb + 1u) {
    let j0 = kb * ${R}u;
${rows.map((r) => `    let y${r} = bhk * Tk + min(j0 + ${r}u, Tk - 1u);`).join('\n')}
${each(keyRow(dt))}
${masked ? maskedStarts : causalStarts}
    for (var g = 0u; g < G; g = g + 1u) {
      let rowBase = (b * p(1u) + hk * G + g) * Tq;
      for (var i = ${masked ? 'iFrom' : 'iAll'}; i < ${masked ? 'iTo' : 'Tq'}; i = i + 1u) {
        let r = rowBase + i;
        let qb = p(10u) + r * D;
        let gb = p(15u) + r * D;
        let db = p(16u) + r * D;
${queryLoads(dt, C, '        ')}
${keyStep(C, 0, masked ? seesQuery(0) : 'vec4<u32>(i) >= iStart', '        ')}
${masked ? dqMaskedNote : dqNote}
${chunks
  .map(
    (c) => `        {
          ${dqSum(c)}
          ${laneStore(dt, 'dq', 'db', c, 'acc')}
        }`,
  )
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
