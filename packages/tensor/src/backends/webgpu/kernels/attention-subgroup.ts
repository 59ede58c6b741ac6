/**
 * Subgroup variants of the flash-style attention kernels (attention.ts has the math). A workgroup
 * is one subgroup of 8 lanes that owns R rows of one head (query rows forward and for dq, key rows
 * for dk/dv); the lanes split the head dimension instead of the rows: lane l holds elements
 * 4·(l + 8c) … 4·(l + 8c) + 3 of every row, c < C = ⌈D / 32⌉. Every row, accumulator and streamed
 * k/v (or q/dO) row is then a handful of vec4 registers with constant names, so nothing is a
 * dynamically indexed private array (llvmpipe turns those into per-lane memory traffic, and
 * unrolling them costs seconds of compile time), each streamed row is loaded once per R rows,
 * and the R dot products of a step are summed across lanes with one `subgroupAdd` per 4 rows.
 * Causal masking is a select inside the block's loop (at most R − 1 wasted steps per row); visible
 * ranges likewise: the block loops over the union of its rows' ranges and each row selects its
 * own, so a packed row's block skips the other documents. Needs the `subgroups` feature with
 * subgroups of at least 8 lanes (a workgroup of 8 is one subgroup).
 */
import type { AttentionArgs, AttentionGrads, AttentionSaved, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { envVar } from '../env.js';
import type { Launch } from '../executor.js';
import { backwardInputs, load4, maskedKey, operands, store4 } from './attention.js';
import { grid2d, load, rowMain, store } from './wgsl.js';

/** Lanes per workgroup (one subgroup). */
const SG = 8;

/** vec4 chunks per lane for head dimension D. */
export function chunksFor(D: number): number {
  return Math.max(1, Math.ceil(D / (4 * SG)));
}

/** WGSL expression: chunk c of this lane of the row at element `base` (zero past D). */
export function laneLoad(dt: DType, name: string, base: string, c: number): string {
  return load4(dt, name, base).replaceAll('d4', `(lid + ${SG * c}u)`);
}

/** WGSL statements storing chunk c of this lane of a row at element `base`. */
export function laneStore(dt: DType, name: string, base: string, c: number, value: string): string {
  return `{ let d4 = lid + ${SG * c}u; ${store4(dt, name, base, value)} }`;
}

/** [0, 1, …, n − 1]. */
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** WGSL `lines`, each indented by `pad`. */
const indent = (pad: string, lines: string[]) => lines.map((line) => pad + line).join('\n');

/**
 * The unrolling of a kernel with R rows per workgroup and C vec4 chunks per lane: row indices,
 * groups of 4 rows, chunk indices, and `each(f)`: f's WGSL line for every (row, chunk) pair,
 * indented by `spaces` spaces.
 */
export function unrolled(R: number, C: number, spaces = 2) {
  const rows = range(R);
  const chunks = range(C);
  const each = (f: (r: number, c: number) => string) =>
    indent(
      ' '.repeat(spaces),
      rows.flatMap((r) => chunks.map((c) => f(r, c))),
    );
  return { rows, quads: range(R / 4), chunks, each };
}

/** WGSL: `vec4(f(4t), f(4t + 1), f(4t + 2), f(4t + 3))`, one group of 4 rows. */
const quad = (t: number, f: (r: number) => string) =>
  `vec4<f32>(${range(4)
    .map((u) => f(4 * t + u))
    .join(', ')})`;

/** WGSL: Σ_c dot(a_r_c, b_c), row r's partial dot product over this lane's chunks. */
const partial = (a: string, b: string, r: number, C: number) =>
  range(C)
    .map((c) => `dot(${a}${r}_${c}, ${b}${c})`)
    .join(' + ');

/**
 * Start of the kernels: `declarations` of operands (attention.ts) with subgroups enabled, the
 * entry point with the block's flat index `row`, and the shapes.
 */
export function header(declarations: (enable: string) => string): string {
  return `${declarations('enable subgroups;\n')}
${rowMain(SG)}
  let Tq = p(3u); let Tk = p(4u); let D = p(5u); let scale = pf(7u);`;
}

/** WGSL: vec4(f(4t), …, f(4t + 3)) of row-indexed u32 expressions, one group of 4 rows. */
const quadU = (t: number, f: (r: number) => string) =>
  `vec4<u32>(${range(4)
    .map((u) => f(4 * t + u))
    .join(', ')})`;

/**
 * WGSL lines for masked kernels, indented by `pad`: the visible ranges w_r of a block's R rows
 * `first + r` (range rows `base + first + r`, clamped to [0, n]; a row past `count` sees
 * nothing) as, per group of 4 rows t, a start `<side>Start_t` and a length `<side>Len_t` (step x
 * is visible to row r when x − start < len in u32: one compare, false before the start), and the
 * block's loop bounds `<side>From` … `<side>To`: the union of the non-empty ranges (empty ones
 * would only stretch it).
 */
function blockRanges(
  R: number,
  side: 'i' | 'j',
  where: { n: string; base: string; first: string; count: string },
  pad: string,
): string {
  const { n, base, first, count } = where;
  const rows = range(R);
  const fold = (f: string, terms: string[]) => terms.reduce((x, y) => `${f}(${x}, ${y})`);
  return indent(pad, [
    ...rows.map(
      (r) =>
        `let w${r} = select(vec2<u32>(0u), visible(${base} + min(${first} + ${r}u, ${count} - 1u), ${n}), ${first} + ${r}u < ${count});`,
    ),
    ...range(R / 4).flatMap((t) => [
      `let ${side}Start${t} = ${quadU(t, (r) => `w${r}.x`)};`,
      `let ${side}Len${t} = ${quadU(t, (r) => `w${r}.y`)} - ${side}Start${t};`,
    ]),
    `let ${side}From = ${fold(
      'min',
      rows.map((r) => `select(${n}, w${r}.x, w${r}.y > w${r}.x)`),
    )};`,
    `let ${side}To = ${fold(
      'max',
      rows.map((r) => `select(0u, w${r}.y, w${r}.y > w${r}.x)`),
    )};`,
  ]);
}

/**
 * WGSL: a block of R query rows (word `nbWord` = blocks per head): per row r its flat index x_r
 * and the keys it sees, and the block's loop bounds jFrom … jAll. Unmasked: per group of 4 rows
 * the causal end jEnd_t (jFrom is 0). Masked: each row's visible range (blockRanges).
 */
function queryRows(R: number, nbWord: number, masked: boolean): string {
  const head = `
  let nb = p(${nbWord}u);
  if (row >= (p(0u) / Tq) * nb) { return; }
  let bh = row / nb; let i0 = (row % nb) * ${R}u;
  let h = bh % p(1u); let b = bh / p(1u);
  let kvRow = (b * p(8u) + h / p(2u)) * Tk;`;
  const xs = range(R)
    .map((r) => `  let x${r} = bh * Tq + min(i0 + ${r}u, Tq - 1u);`)
    .join('\n');
  if (masked)
    return `${head}
${xs}
  // the keys each row sees: its visible range (causal already folded in)
${blockRanges(R, 'j', { n: 'Tk', base: 'b * Tq', first: 'i0', count: 'Tq' }, '  ')}
  let jAll = jTo;`;
  return `${head}
  let causal = p(6u) != 0u;
${xs}
${range(R / 4)
  .map(
    (t) =>
      `  let jEnd${t} = select(vec4<u32>(Tk), min(vec4<u32>(i0) + vec4<u32>(${4 * t}u, ${4 * t + 1}u, ${4 * t + 2}u, ${4 * t + 3}u), vec4<u32>(Tq - 1u)) + Tk - Tq + 1u, causal);`,
  )
  .join('\n')}
  // causal: query i sees keys j <= i + Tk - Tq (bottom-right aligned)
  let jAll = select(Tk, min(i0 + ${R}u, Tq) + Tk - Tq, causal);`;
}

/** WGSL: is key j visible to the rows 4t … 4t + 3 of a query block (a vec4<bool>)? */
const seesKey = (masked: boolean, t: number) =>
  masked ? `vec4<u32>(j) - jStart${t} < jLen${t}` : `vec4<u32>(j) < jEnd${t}`;

/** WGSL start of a query block's loop over keys. */
const keyLoop = (masked: boolean) => `for (var j = ${masked ? 'jFrom' : '0u'}; j < jAll; j = j + 1u)`;

/** WGSL of the forward and dq kernels: this lane's chunks k_c and v_c of key/value row j. */
function keyLoads(dt: DType, C: number): string {
  return indent('    ', [
    'let kb = p(11u) + (kvRow + j) * D;',
    'let vb = p(12u) + (kvRow + j) * D;',
    ...range(C).flatMap((c) => [
      `let k${c} = ${laneLoad(dt, 'k', 'kb', c)};`,
      `let v${c} = ${laneLoad(dt, 'v', 'vb', c)};`,
    ]),
  ]);
}

/**
 * WGSL of the dk/dv kernels, for `each` of unrolled: chunk c of key row r (at y_r) times scale and
 * of its v row, and zeroed dk and dv accumulators.
 */
export const keyRow = (dt: DType) => (r: number, c: number) =>
  `var k${r}_${c} = ${laneLoad(dt, 'k', `p(11u) + y${r} * D`, c)} * scale; var v${r}_${c} = ${laneLoad(dt, 'v', `p(12u) + y${r} * D`, c)}; var dk${r}_${c} = vec4<f32>(0.0); var dv${r}_${c} = vec4<f32>(0.0);`;

/**
 * WGSL of the dk/dv kernels, indented by `pad`: this lane's chunks q_c and o_c (of dO) of query
 * row r (at qb and gb), its log-sum-exp L and its delta dl.
 */
export function queryLoads(dt: DType, C: number, pad: string): string {
  return indent(pad, [
    ...range(C).flatMap((c) => [
      `let q${c} = ${laneLoad(dt, 'q', 'qb', c)};`,
      `let o${c} = ${laneLoad(dt, 'gout', 'gb', c)};`,
    ]),
    `let L = ${load(dt, 'lse', 'p(13u) + r')};`,
    `let dl = ${load(dt, 'delta', 'p(14u) + r')};`,
  ]);
}

/**
 * WGSL of the dk/dv kernels, indented by `pad`: the probabilities and dS of query i (loaded by
 * queryLoads) for key rows 4t … 4t + 3, zero where `sees` (a vec4<bool>: does key 4t + u see
 * query i?) is false, and their dv and dk accumulation.
 */
export function keyStep(C: number, t: number, sees: string, pad: string): string {
  return indent(pad, [
    `let s = subgroupAdd(${quad(t, (r) => partial('k', 'q', r, C))});`,
    `let dp = subgroupAdd(${quad(t, (r) => partial('v', 'o', r, C))});`,
    `let pr = select(vec4<f32>(0.0), exp(s - L), ${sees});`,
    'let ds = pr * (dp - dl);',
    ...range(4).flatMap((u) =>
      range(C).flatMap((c) => {
        const x = 4 * t + u;
        return [
          `dv${x}_${c} = dv${x}_${c} + pr[${u}] * o${c};`,
          `dk${x}_${c} = dk${x}_${c} + ds[${u}] * q${c};`,
        ];
      }),
    ),
  ]);
}

/**
 * WGSL of the dk/dv kernels, indented by `pad`: the stores of key rows r < R that exist, dk·scale
 * at uniform word `dkWord`'s offset and dv at the next word's.
 */
export function keyRowStores(dt: DType, R: number, C: number, dkWord: number, pad: string): string {
  return indent(
    pad,
    range(R).flatMap((r) => [
      `if (j0 + ${r}u < Tk) {`,
      ...range(C).flatMap((c) => [
        `  ${laneStore(dt, 'dk', `p(${dkWord}u) + y${r} * D`, c, `dk${r}_${c} * scale`)}`,
        `  ${laneStore(dt, 'dv', `p(${dkWord + 1}u) + y${r} * D`, c, `dv${r}_${c}`)}`,
      ]),
      '}',
    ]),
  );
}

/**
 * Rows per workgroup (a multiple of 4). 4 ran 1.1–1.4× faster than 8 on lavapipe (fewer values
 * live across the loop; 8 spills), and compiles in tens of milliseconds.
 */
const SUBGROUP_ATTENTION_ROWS = 4;

/** Which attention kernels run: see {@link attentionVariant}. */
export type AttentionVariant = 'rows' | 'subgroup' | 'onepass';

/**
 * The attention kernels for a device and an input. `rows` (attention.ts, 64 rows per workgroup)
 * is the GPU path: many rows in flight, nothing serialised. `subgroup` (this file) needs
 * subgroups of at least 8 lanes and is the default on software adapters (lavapipe: 8-lane SIMD
 * on CPU threads), where it ran 2.5–5× the row kernels; its 8-lane workgroups would leave most
 * of a GPU's lanes idle. It is limited to head dims ≤ 64 in float32 and ≤ 32 in float16, where
 * llvmpipe compiles its unrolled code in 1–3 s (cold). `onepass` is `subgroup` with the
 * one-kernel backward of attention-subgroup-onepass.ts (one workgroup per kv head), the default
 * there for float32 with head dim ≤ 32 (one vec4 per lane; at 64 it spilled and lost) when 9
 * storage buffers per stage are allowed (10 when `masked`: the mask's ranges are one more).
 * `KILN_ATTENTION_VARIANT=rows|subgroup|onepass` forces one where it can run (tests, A/B
 * measurements).
 */
export function attentionVariant(
  software: boolean,
  subgroups: boolean,
  subgroupMinSize: number,
  maxStorageBuffers: number,
  dtype: DType,
  D: number,
  masked = false,
): AttentionVariant {
  // llvmpipe's cold compile grows with the unrolled rows × chunks: 1–3 s per pipeline at up to
  // 2 chunks (f32) or 1 (f16), 13 s for 4 chunks, over a minute for 8 (cached on disk afterwards)
  const C = chunksFor(D);
  const sg = subgroups && subgroupMinSize >= 8 && C <= (dtype === 'float32' ? 2 : 1);
  const onePass = sg && dtype === 'float32' && C === 1 && maxStorageBuffers >= (masked ? 10 : 9);
  const forced = envVar('KILN_ATTENTION_VARIANT');
  if (forced === 'rows') return 'rows';
  if (forced === 'subgroup' && sg) return 'subgroup';
  if (forced === 'onepass' && onePass) return 'onepass';
  if (!software || !sg) return 'rows';
  return onePass ? 'onepass' : 'subgroup';
}

/** Forward (out and lse), R query rows per workgroup; see attentionLaunch. */
export function attentionSubgroupLaunch(
  args: AttentionArgs<View>,
  out: View,
  lse: View,
  maxWorkgroups: number,
): Launch {
  const { q, k, v } = args;
  const dt = q.dtype;
  const R = SUBGROUP_ATTENTION_ROWS;
  const [B, H, Tq, D] = q.shape;
  const nb = Math.ceil(Tq / R);
  const C = chunksFor(D);
  const { words, access, declarations, masked } = operands(args, 'keys', { q, k, v }, { out, lse }, [nb]);
  const { rows, quads, chunks, each } = unrolled(R, C);
  // l and m of row r; with ranges, a row that sees no key has l = 0: out = 0 and lse = −∞
  const l = (r: number) => `l${r >> 2}[${r & 3}]`;
  const m = (r: number) => `m${r >> 2}[${r & 3}]`;
  const none = (r: number) => `w${r}.y == w${r}.x`;
  const outOf = (r: number, c: number) =>
    masked ? `a${r}_${c} / select(${l(r)}, 1.0, ${none(r)})` : `a${r}_${c} / ${l(r)}`;
  const starts = `  // finite starts: exp(m - s) must be 0, not NaN (llvmpipe assumes infinities away); key 0 is
  // visible to every row, so m is a real score from the first step on`;
  const startsMasked = `  // finite starts: exp(m - s) must be 0, not NaN (llvmpipe assumes infinities away); a step a
  // row does not see leaves its m, l and a as they are (corr = 1, p = 0)`;
  const lseOf = (r: number) =>
    masked ? `select(${m(r)} + log_acc(${l(r)}), -inf_f32(), ${none(r)})` : `${m(r)} + log_acc(${l(r)})`;
  return {
    kernel: {
      key: `attention_sg:${dt}:${C}:${R}${maskedKey(masked)}`,
      access,
      build: () => `${header(declarations)}${queryRows(R, 15, masked)}
${each((r, c) => `var q${r}_${c} = ${laneLoad(dt, 'q', `p(10u) + x${r} * D`, c)} * scale; var a${r}_${c} = vec4<f32>(0.0);`)}
${masked ? startsMasked : starts}
${quads.map((t) => `  var m${t} = vec4<f32>(-3.0e38); var l${t} = vec4<f32>(0.0);`).join('\n')}
  ${keyLoop(masked)} {
${keyLoads(dt, C)}
${quads
  .map(
    (t) => `    {
      let s = select(vec4<f32>(-3.0e38), subgroupAdd(${quad(t, (r) => partial('q', 'k', r, C))}), ${seesKey(masked, t)});
      let mn = max(m${t}, s);
      let corr = exp(m${t} - mn);
      let pr = select(vec4<f32>(0.0), exp(s - mn), ${seesKey(masked, t)});
      l${t} = l${t} * corr + pr;
      m${t} = mn;
${range(4)
  .flatMap((u) =>
    chunks.map((c) => `      a${4 * t + u}_${c} = a${4 * t + u}_${c} * corr[${u}] + pr[${u}] * v${c};`),
  )
  .join('\n')}
    }`,
  )
  .join('\n')}
  }
${rows
  .map(
    (r) => `  if (i0 + ${r}u < Tq) {
${chunks.map((c) => `    ${laneStore(dt, 'out', `p(13u) + x${r} * D`, c, outOf(r, c))}`).join('\n')}
    if (lid == 0u) { ${store(dt, 'lse', `p(14u) + x${r}`, lseOf(r))} }
  }`,
  )
  .join('\n')}
}
`,
    },
    params: words,
    grid: grid2d(B * H * nb, maxWorkgroups),
  };
}

/** dq, R query rows per workgroup; see attentionBackwardQueryLaunch. */
export function attentionBackwardQuerySubgroupLaunch(
  args: AttentionArgs<View>,
  saved: AttentionSaved<View>,
  { dq }: Pick<AttentionGrads<View>, 'dq'>,
  maxWorkgroups: number,
): Launch {
  const { q } = args;
  const dt = q.dtype;
  const R = SUBGROUP_ATTENTION_ROWS;
  const [B, H, Tq, D] = q.shape;
  const nb = Math.ceil(Tq / R);
  const C = chunksFor(D);
  const inputs = backwardInputs(args, saved);
  const { words, access, declarations, masked } = operands(args, 'keys', inputs, { dq }, [nb]);
  const { rows, quads, chunks, each } = unrolled(R, C);
  return {
    kernel: {
      key: `attention_backward_q_sg:${dt}:${C}:${R}${maskedKey(masked)}`,
      access,
      build: () => `${header(declarations)}${queryRows(R, 17, masked)}
${each(
  (r, c) =>
    `var q${r}_${c} = ${laneLoad(dt, 'q', `p(10u) + x${r} * D`, c)} * scale; var g${r}_${c} = ${laneLoad(dt, 'gout', `p(15u) + x${r} * D`, c)}; var a${r}_${c} = vec4<f32>(0.0);`,
)}
${quads.map((t) => `  let L${t} = ${quad(t, (r) => load(dt, 'lse', `p(13u) + x${r}`))};\n  let dl${t} = ${quad(t, (r) => load(dt, 'delta', `p(14u) + x${r}`))};`).join('\n')}
  ${keyLoop(masked)} {
${keyLoads(dt, C)}
${quads
  .map(
    (t) => `    {
      let s = subgroupAdd(${quad(t, (r) => partial('q', 'k', r, C))});
      let dp = subgroupAdd(${quad(t, (r) => partial('g', 'v', r, C))});
      let ds = select(vec4<f32>(0.0), exp(s - L${t}) * (dp - dl${t}), ${seesKey(masked, t)});
${range(4)
  .flatMap((u) => chunks.map((c) => `      a${4 * t + u}_${c} = a${4 * t + u}_${c} + ds[${u}] * k${c};`))
  .join('\n')}
    }`,
  )
  .join('\n')}
  }
${rows
  .map(
    (r) =>
      `  if (i0 + ${r}u < Tq) {\n${chunks.map((c) => `    ${laneStore(dt, 'dq', `p(16u) + x${r} * D`, c, `a${r}_${c} * scale`)}`).join('\n')}\n  }`,
  )
  .join('\n')}
}
`,
    },
    params: words,
    grid: grid2d(B * H * nb, maxWorkgroups),
  };
}

/**
 * WGSL lines of the masked dk/dv kernels, indented by `pad`: which queries see the R keys from
 * j0 of kv head bhk (of batch row b), as blockRanges: iStart_t, iLen_t and the loop iFrom … iTo.
 */
export const keyRanges = (R: number, pad: string): string =>
  `${indent(pad, ['// the queries that see each key: its visible range (causal already folded in)'])}
${blockRanges(R, 'i', { n: 'Tq', base: 'b * Tk', first: 'j0', count: 'Tk' }, pad)}`;

/** WGSL: does key 4t + u of a key block see query i (a vec4<bool>)? Masked kernels only. */
export const seesQuery = (t: number) => `vec4<u32>(i) - iStart${t} < iLen${t}`;

/** dk and dv, R key rows per workgroup; see attentionBackwardKeyLaunch. */
export function attentionBackwardKeySubgroupLaunch(
  args: AttentionArgs<View>,
  saved: AttentionSaved<View>,
  { dk, dv }: Pick<AttentionGrads<View>, 'dk' | 'dv'>,
  maxWorkgroups: number,
): Launch {
  const { k } = args;
  const dt = k.dtype;
  const R = SUBGROUP_ATTENTION_ROWS;
  const [B, Hkv, Tk, D] = k.shape;
  const nb = Math.ceil(Tk / R);
  const C = chunksFor(D);
  const inputs = backwardInputs(args, saved);
  const { words, access, declarations, masked } = operands(args, 'queries', inputs, { dk, dv }, [nb]);
  const { rows, quads, each } = unrolled(R, C);
  const ys = rows.map((r) => `  let y${r} = bhk * Tk + min(j0 + ${r}u, Tk - 1u);`).join('\n');
  const causalStarts = `  let causal = p(6u) != 0u;
${ys}
${each(keyRow(dt))}
  // causal: key j is seen by queries i >= j - (Tk - Tq); the block starts at its first key's
${quads
  .map(
    (t) =>
      `  let iStart${t} = select(vec4<u32>(0u), max(min(vec4<u32>(j0) + vec4<u32>(${4 * t}u, ${4 * t + 1}u, ${4 * t + 2}u, ${4 * t + 3}u), vec4<u32>(Tk - 1u)) + Tq, vec4<u32>(Tk)) - Tk, causal);`,
  )
  .join('\n')}
  let iAll = select(0u, max(j0 + Tq, Tk) - Tk, causal);`;
  const maskedStarts = `${ys}
${each(keyRow(dt))}
${keyRanges(R, '  ')}`;
  return {
    kernel: {
      key: `attention_backward_kv_sg:${dt}:${C}:${R}${maskedKey(masked)}`,
      access,
      build: () => `${header(declarations)}
  let G = p(2u);
  let nb = p(18u);
  if (row >= (p(9u) / Tk) * nb) { return; }
  let bhk = row / nb; let j0 = (row % nb) * ${R}u;
  let hk = bhk % p(8u); let b = bhk / p(8u);
${masked ? maskedStarts : causalStarts}
  for (var g = 0u; g < G; g = g + 1u) {
    let rowBase = (b * p(1u) + hk * G + g) * Tq;
    for (var i = ${masked ? 'iFrom' : 'iAll'}; i < ${masked ? 'iTo' : 'Tq'}; i = i + 1u) {
      let r = rowBase + i;
      let qb = p(10u) + r * D;
      let gb = p(15u) + r * D;
${queryLoads(dt, C, '      ')}
${quads.map((t) => `      {\n${keyStep(C, t, masked ? seesQuery(t) : `vec4<u32>(i) >= iStart${t}`, '        ')}\n      }`).join('\n')}
    }
  }
${keyRowStores(dt, R, C, 16, '  ')}
}
`,
    },
    params: words,
    grid: grid2d(B * Hkv * nb, maxWorkgroups),
  };
}
