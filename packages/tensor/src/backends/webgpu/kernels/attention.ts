/**
 * Flash-style attention on contiguous q [B, H, Tq, D], k/v [B, Hkv, Tk, D]. Each invocation owns
 * one row (a query row forward and for dq, a key row for dk/dv), keeps it and its accumulators in
 * private memory and streams the other side one key (or query) at a time: the Tq×Tk scores are
 * never stored. Forward uses an online softmax (running max and sum, rescaling the accumulator
 * when the max grows) and saves the row's log-sum-exp, from which backward recomputes each
 * probability as exp(s − lse). No workgroup memory and no barriers: on llvmpipe such band-style
 * kernels beat shared-memory tiling (docs/toolchain.md), and loop bounds come from uniforms so
 * nothing gets unrolled at compile time. These "row" kernels are the GPU path; software adapters
 * run the subgroup variants of attention-subgroup.ts (see attentionVariant there).
 */
import type { AttentionArgs, AttentionGrads, AttentionSaved, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import type { Access } from '../pipelines.js';
import { dtypeBuffer, enables, flatMain, grid2d, load, mathPrelude, store, uniforms } from './wgsl.js';

const WG = 64;

/**
 * Private array length in vec4s for head dimension D: a power of two ≥ 4 (few pipelines). Rows
 * are handled as vec4s: llvmpipe spends most of these kernels on private-array indexing, and a
 * vec4 per index quarters it.
 */
function dimCap(D: number): number {
  let c = 4;
  while (c * 4 < D) c *= 2;
  return c;
}

/**
 * WGSL expression: the vec4 at element `base + 4·d4` of `name`, zero past D. Reads past the row
 * stay inside the buffer or are clamped by WebGPU's robust access, and select discards them.
 */
export function load4(dt: DType, name: string, base: string): string {
  const lane = (c: number) =>
    `select(0.0, ${load(dt, name, `${base} + 4u * d4 + ${c}u`)}, 4u * d4 + ${c}u < D)`;
  return `vec4<f32>(${lane(0)}, ${lane(1)}, ${lane(2)}, ${lane(3)})`;
}

/** WGSL statements storing vec4 `value` at element `base + 4·d4` of `name`, lanes below D only. */
export function store4(dt: DType, name: string, base: string, value: string): string {
  return `{ let w = ${value};${[0, 1, 2, 3]
    .map((c) => ` if (4u * d4 + ${c}u < D) { ${store(dt, name, `${base} + 4u * d4 + ${c}u`, `w[${c}]`)} }`)
    .join('')} }`;
}

/** WGSL loop header over the vec4s of a row. */
const EACH = 'for (var d4 = 0u; d4 < D4; d4 = d4 + 1u)';

/** Storage buffers of a kernel by WGSL name. */
type Buffers = Record<string, View>;

/**
 * Which visible ranges a kernel reads when the mask has them: the query-side kernels (forward,
 * dq) the keys each query sees, the key-side ones (dk/dv) the queries that see each key.
 */
export type RangeSide = 'keys' | 'queries';

/** The inputs of every backward kernel. */
export function backwardInputs({ q, k, v }: AttentionArgs<View>, saved: AttentionSaved<View>): Buffers {
  return { q, k, v, lse: saved.lse, delta: saved.delta, gout: saved.gradOut };
}

/**
 * WGSL `visible(r, n)`: range row r of the bound ranges (int32 pairs from the offset in uniform
 * word `word`) clamped to [0, n] with lo ≤ hi, so a malformed range can neither read nor write
 * out of bounds and an inverted one is empty.
 */
function visiblePrelude(word: number): string {
  return `// range row r of the visible ranges as [lo, hi), clamped to [0, n]
fn visible(r: u32, n: u32) -> vec2<u32> {
  let at = p(${word}u) + 2u * r;
  let hi = u32(clamp(ranges[at + 1u], 0, i32(n)));
  return vec2<u32>(min(u32(clamp(ranges[at], 0, i32(n))), hi), hi);
}
`;
}

/**
 * Uniform words, access list and WGSL declarations (enable directives, further ones in `enable`,
 * then uniform block, buffers and math prelude; built on demand, on a pipeline-cache miss) shared
 * by the attention kernels. Words: 0 B·H·Tq, 1 H, 2 G, 3 Tq, 4 Tk, 5 D, 6 causal, 7 scale, 8 Hkv,
 * 9 B·Hkv·Tk, then each input's offset, each output's and `extra`. Bindings: the outputs
 * (read_write) from 1, then the inputs (read), in the records' order. When the mask has ranges,
 * the `side` ones (int32) are bound last as `ranges`, their offset is the last word, and the
 * declarations add `visible` (`masked` says so); the kernels then ignore word 6.
 */
export function operands(
  args: AttentionArgs<View>,
  side: RangeSide,
  inputs: Buffers,
  outputs: Buffers,
  extra: number[] = [],
) {
  const { q, k, scale, mask } = args;
  const dt = q.dtype;
  const [B, H, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const ranges = mask.ranges ? mask.ranges[side] : null;
  const words = [
    ...[B * H * Tq, H, H / Hkv, Tq, Tk, D, mask.causal ? 1 : 0, f32Bits(scale), Hkv, B * Hkv * Tk],
    ...Object.values(inputs).map((t) => t.offset),
    ...Object.values(outputs).map((t) => t.offset),
    ...extra,
    ...(ranges ? [ranges.offset] : []),
  ];
  const bound = [
    ...Object.entries(outputs).map(([name, t]) => [name, 'read_write', t.dtype] as const),
    ...Object.entries(inputs).map(([name, t]) => [name, 'read', t.dtype] as const),
    ...(ranges ? [['ranges', 'read', ranges.dtype] as const] : []),
  ];
  const access: Access[] = bound.map(([, a]) => a);
  const prelude = ranges ? visiblePrelude(words.length - 1) : '';
  const declarations = (enable = '') =>
    `${enables([dt])}${enable}${uniforms(words.length)}${bound.map(([name, a, type], i) => dtypeBuffer(i + 1, name, a, type)).join('')}${mathPrelude(dt === 'float16')}${prelude}`;
  return { words, access, declarations, masked: ranges !== null };
}

/** The pipeline-cache key suffix of a kernel compiled for ranges. */
export const maskedKey = (masked: boolean): string => (masked ? ':masked' : '');

/**
 * WGSL: query row idx's batch b, head h, position i, first kv row and the keys [jStart, jEnd)
 * it sees (jStart only when masked).
 */
function queryRow(masked: boolean): string {
  const head = `
  let Tq = p(3u); let Tk = p(4u); let D = p(5u); let D4 = (D + 3u) / 4u; let scale = pf(7u);
  let i = idx % Tq; let bh = idx / Tq; let h = bh % p(1u); let b = bh / p(1u);
  let kvRow = (b * p(8u) + h / p(2u)) * Tk;`;
  if (masked)
    return `${head}
  // the query's visible range (causal already folded in)
  let seen = visible(b * Tq + i, Tk);
  let jStart = seen.x; let jEnd = seen.y;`;
  return `${head}
  // causal: query i sees keys j <= i + Tk - Tq (bottom-right aligned)
  var jEnd = Tk;
  if (p(6u) != 0u) { jEnd = min(Tk, i + Tk - Tq + 1u); }`;
}

/** WGSL start of a loop over the keys query row `idx` sees. */
const keyLoop = (masked: boolean) => `for (var j = ${masked ? 'jStart' : '0u'}; j < jEnd; j = j + 1u)`;

/** Forward: out and lse, one invocation per query row. */
export function attentionLaunch(
  args: AttentionArgs<View>,
  out: View,
  lse: View,
  maxWorkgroups: number,
): Launch {
  const { q, k, v } = args;
  const dt = q.dtype;
  const { words, access, declarations, masked } = operands(args, 'keys', { q, k, v }, { out, lse });
  const cap = dimCap(q.shape[3]);
  // a query that sees no key (only with ranges) has l = 0: out = 0 and lse = −∞
  const ends = masked
    ? `  let none = jEnd == jStart;
  let ld = select(l, 1.0, none);
  let ob = p(13u) + idx * D;
  ${EACH} ${store4(dt, 'out', 'ob', 'acc[d4] / ld')}
  ${store(dt, 'lse', 'p(14u) + idx', 'select(m + log_acc(l), -inf_f32(), none)')}`
    : `  let ob = p(13u) + idx * D;
  ${EACH} ${store4(dt, 'out', 'ob', 'acc[d4] / l')}
  ${store(dt, 'lse', 'p(14u) + idx', 'm + log_acc(l)')}`;
  return {
    kernel: {
      key: `attention:${dt}:${cap}${maskedKey(masked)}`,
      access,
      build: () => `${declarations()}
${flatMain(WG)}
  if (idx >= p(0u)) { return; }${queryRow(masked)}
  var qv: array<vec4<f32>, ${cap}>;
  var acc: array<vec4<f32>, ${cap}>;
  let qBase = p(10u) + idx * D;
  ${EACH} { qv[d4] = ${load4(dt, 'q', 'qBase')} * scale; acc[d4] = vec4<f32>(0.0); }
  // a finite start: exp(m - s) must be 0, not NaN (llvmpipe assumes infinities away)
  var m = -3.0e38;
  var l = 0.0;
  ${keyLoop(masked)} {
    let kb = p(11u) + (kvRow + j) * D;
    var s = 0.0;
    ${EACH} { s = s + dot(qv[d4], ${load4(dt, 'k', 'kb')}); }
    if (s > m) {
      let corr = exp(m - s);
      l = l * corr;
      ${EACH} { acc[d4] = acc[d4] * corr; }
      m = s;
    }
    let pr = exp(s - m);
    l = l + pr;
    let vb = p(12u) + (kvRow + j) * D;
    ${EACH} { acc[d4] = acc[d4] + pr * ${load4(dt, 'v', 'vb')}; }
  }
${ends}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(words[0] / WG), maxWorkgroups),
  };
}

/** dq = scale · Σ_j p_ij (dO_i·v_j − delta_i) k_j, one invocation per query row. */
export function attentionBackwardQueryLaunch(
  args: AttentionArgs<View>,
  saved: AttentionSaved<View>,
  { dq }: Pick<AttentionGrads<View>, 'dq'>,
  maxWorkgroups: number,
): Launch {
  const { q } = args;
  const dt = q.dtype;
  const inputs = backwardInputs(args, saved);
  const { words, access, declarations, masked } = operands(args, 'keys', inputs, { dq });
  const cap = dimCap(q.shape[3]);
  return {
    kernel: {
      key: `attention_backward_q:${dt}:${cap}${maskedKey(masked)}`,
      access,
      build: () => `${declarations()}
${flatMain(WG)}
  if (idx >= p(0u)) { return; }${queryRow(masked)}
  var qv: array<vec4<f32>, ${cap}>;
  var gv: array<vec4<f32>, ${cap}>;
  var acc: array<vec4<f32>, ${cap}>;
  let qBase = p(10u) + idx * D;
  let gBase = p(15u) + idx * D;
  ${EACH} {
    qv[d4] = ${load4(dt, 'q', 'qBase')} * scale;
    gv[d4] = ${load4(dt, 'gout', 'gBase')};
    acc[d4] = vec4<f32>(0.0);
  }
  let L = ${load(dt, 'lse', 'p(13u) + idx')};
  let dl = ${load(dt, 'delta', 'p(14u) + idx')};
  ${keyLoop(masked)} {
    let kb = p(11u) + (kvRow + j) * D;
    let vb = p(12u) + (kvRow + j) * D;
    var s = 0.0;
    var dp = 0.0;
    // k_j is read once and kept for the second pass
    var kc: array<vec4<f32>, ${cap}>;
    ${EACH} {
      kc[d4] = ${load4(dt, 'k', 'kb')};
      s = s + dot(qv[d4], kc[d4]);
      dp = dp + dot(gv[d4], ${load4(dt, 'v', 'vb')});
    }
    let ds = exp(s - L) * (dp - dl);
    ${EACH} { acc[d4] = acc[d4] + ds * kc[d4]; }
  }
  let ob = p(16u) + idx * D;
  ${EACH} ${store4(dt, 'dq', 'ob', 'acc[d4] * scale')}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(words[0] / WG), maxWorkgroups),
  };
}

/**
 * dk_j = scale · Σ_i p_ij (dO_i·v_j − delta_i) q_i and dv_j = Σ_i p_ij dO_i, one invocation per
 * key row, summing over every query head of its group (grouped-query attention) and over the
 * queries that see it.
 */
export function attentionBackwardKeyLaunch(
  args: AttentionArgs<View>,
  saved: AttentionSaved<View>,
  { dk, dv }: Pick<AttentionGrads<View>, 'dk' | 'dv'>,
  maxWorkgroups: number,
): Launch {
  const { q } = args;
  const dt = q.dtype;
  const inputs = backwardInputs(args, saved);
  const { words, access, declarations, masked } = operands(args, 'queries', inputs, { dk, dv });
  const cap = dimCap(q.shape[3]);
  const queries = masked
    ? `  // the queries that see key j: its visible range (causal already folded in)
  let seen = visible(b * Tk + j, Tq);
  let iStart = seen.x; let iEnd = seen.y;`
    : `  // causal: key j is seen by queries i >= j - (Tk - Tq)
  var iStart = 0u;
  if (p(6u) != 0u && j + Tq > Tk) { iStart = j + Tq - Tk; }`;
  return {
    kernel: {
      key: `attention_backward_kv:${dt}:${cap}${maskedKey(masked)}`,
      access,
      build: () => `${declarations()}
${flatMain(WG)}
  if (idx >= p(9u)) { return; }
  let Tq = p(3u); let Tk = p(4u); let D = p(5u); let D4 = (D + 3u) / 4u; let scale = pf(7u); let G = p(2u);
  let j = idx % Tk; let bhk = idx / Tk; let hk = bhk % p(8u); let b = bhk / p(8u);
  var kv: array<vec4<f32>, ${cap}>;
  var vv: array<vec4<f32>, ${cap}>;
  var dkA: array<vec4<f32>, ${cap}>;
  var dvA: array<vec4<f32>, ${cap}>;
  let kb = p(11u) + idx * D;
  let vb = p(12u) + idx * D;
  ${EACH} {
    kv[d4] = ${load4(dt, 'k', 'kb')} * scale;
    vv[d4] = ${load4(dt, 'v', 'vb')};
    dkA[d4] = vec4<f32>(0.0);
    dvA[d4] = vec4<f32>(0.0);
  }
${queries}
  for (var g = 0u; g < G; g = g + 1u) {
    let rowBase = (b * p(1u) + hk * G + g) * Tq;
    for (var i = iStart; i < ${masked ? 'iEnd' : 'Tq'}; i = i + 1u) {
      let r = rowBase + i;
      let qb = p(10u) + r * D;
      let gb = p(15u) + r * D;
      var s = 0.0;
      var dp = 0.0;
      var qc: array<vec4<f32>, ${cap}>;
      var gc: array<vec4<f32>, ${cap}>;
      ${EACH} {
        qc[d4] = ${load4(dt, 'q', 'qb')};
        gc[d4] = ${load4(dt, 'gout', 'gb')};
        s = s + dot(kv[d4], qc[d4]);
        dp = dp + dot(vv[d4], gc[d4]);
      }
      let pr = exp(s - ${load(dt, 'lse', 'p(13u) + r')});
      let ds = pr * (dp - ${load(dt, 'delta', 'p(14u) + r')});
      ${EACH} {
        dvA[d4] = dvA[d4] + pr * gc[d4];
        dkA[d4] = dkA[d4] + ds * qc[d4];
      }
    }
  }
  let dkb = p(16u) + idx * D;
  let dvb = p(17u) + idx * D;
  ${EACH} {
    ${store4(dt, 'dk', 'dkb', 'dkA[d4] * scale')}
    ${store4(dt, 'dv', 'dvb', 'dvA[d4]')}
  }
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(words[9] / WG), maxWorkgroups),
  };
}
