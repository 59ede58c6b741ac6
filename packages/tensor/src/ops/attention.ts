/**
 * Attention, softmax(scale · q·kᵀ, masked) · v, and the masks that say which keys each query
 * sees: causal, documents packed into one row (segments), and padding. Backends with the fused
 * kernels never form the Tq×Tk scores; the others compose the same math from public ops.
 *
 * A mask reaches the kernels as visible ranges: each query sees one contiguous run of keys and
 * each key is seen by one contiguous run of queries (see `AttentionRanges` in backend.ts).
 * `attentionMask` builds them from segment ids and padding once per forward pass; every layer
 * of a model shares them, and a kernel only visits the keys a query can see, so packed rows cost
 * less than one causal row of the same length.
 */
import type { AttentionMask } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { arange, full, ones, zeros } from './create.js';
import { where } from './elementwise.js';
import { gather, scatterAdd } from './indexing.js';
import { concat, stack } from './join.js';
import { logsumexp } from './reduce.js';
import { empty, requireFloat, requireIndex, sameDType, withTemps } from './util.js';
import { contiguous } from './views.js';

export type { AttentionMask, AttentionRanges } from '../backend.js';

/** Options of {@link attention}. */
export interface AttentionOptions {
  /**
   * Query i (of Tq) sees keys j ≤ i + Tk − Tq (bottom-right aligned, as with a KV cache).
   * Default false; with `mask`, the mask's own `causal` applies and this must not contradict it.
   */
  causal?: boolean;
  /** Multiplies q·k (default 1/sqrt(D)). */
  scale?: number;
  /** Which keys each query sees, from {@link attentionMask} (segments, padding, causal). */
  mask?: AttentionMask<Tensor>;
}

/** Options of {@link attentionMask}. */
export interface AttentionMaskOptions {
  /** Queries see no later key (default false). */
  causal?: boolean;
  /**
   * int32 [B, Tk]: the document of each key position of a packed row. A document is a run of
   * equal ids; tokens attend only within their run. A negative id marks padding.
   */
  segments?: Tensor;
  /**
   * bool (or int32, nonzero = pad) [B, Tk]: true at padding positions. Padding keys are seen by
   * no query and padding queries see no key (their output is 0). Padding belongs at the start
   * and/or the end of a row: a pad run in the middle splits the row into two documents.
   */
  padding?: Tensor;
  /** Queries per row, the last Tq of the Tk key positions (default Tk: self-attention). */
  queries?: number;
}

/**
 * The mask of `options` as visible ranges shared by every attention layer of a forward pass.
 * Without segments or padding it is just `{ causal, ranges: null }` (the kernels' index-only
 * mask). The caller owns the ranges tensors (build the mask inside a `scope`, or dispose
 * `mask.ranges.keys` and `mask.ranges.queries`).
 *
 * ```ts
 * // two documents packed into one row of 5 tokens: [a a a | b b]
 * const mask = attentionMask({ causal: true, segments: tensor([[0, 0, 0, 1, 1]], { dtype: 'int32' }) });
 * const y = attention(q, k, v, { mask });
 * ```
 */
export function attentionMask(options: AttentionMaskOptions): AttentionMask<Tensor> {
  const { causal = false, segments, padding } = options;
  if (!segments && !padding) return { causal, ranges: null };
  const like = (segments ?? padding)!;
  if (like.ndim !== 2)
    throw new ShapeError(
      `attentionMask: segments and padding must be [batch, keys], got ${fmtShape(like.shape)}`,
    );
  const [B, Tk] = like.shape;
  if (segments) requireIndex('attentionMask', 'segments', segments);
  if (padding) {
    if (padding.dtype !== 'bool' && padding.dtype !== 'int32')
      throw new DTypeError(
        `attentionMask: padding must be bool (true = pad) or int32 (nonzero = pad), got ${padding.dtype}`,
      );
    if (padding.shape.join() !== like.shape.join())
      throw new ShapeError(
        `attentionMask: padding ${fmtShape(padding.shape)} must match segments ${fmtShape(like.shape)}`,
      );
    if (segments && padding.backend !== segments.backend)
      throw new Error('attentionMask: segments and padding live on different backends');
  }
  const Tq = options.queries ?? Tk;
  if (!Number.isInteger(Tq) || Tq < 0 || Tq > Tk)
    throw new RangeError(
      `attentionMask: queries must be an integer in [0, ${Tk}] (the key count), got ${Tq}`,
    );
  const o = Tk - Tq;
  return withTemps((tmp) => {
    const int = { dtype: 'int32' as const, backend: like.backend };
    let ids = segments ?? tmp(zeros([B, Tk], int));
    if (padding) ids = tmp(where(padding.dtype === 'bool' ? padding : tmp(padding.ne(0)), -1, ids));
    const { start, end } = documentRuns(ids, tmp);
    const visible = tmp(ids.ge(0));
    const pos = tmp(tmp(arange(0, Tk, 1, int)).reshape([1, Tk]));
    // An empty range sits at the position itself, so a kernel's loop bound over a block of
    // rows (the union of their ranges) is not stretched by it.
    const range = (lo: Tensor, hi: Tensor) =>
      tmp(stack([tmp(where(visible, lo, pos)), tmp(where(visible, hi, pos))], -1));
    // The query at key position p sees keys [start, p] (causal) or its whole document.
    const keySide = range(start, causal ? tmp(pos.add(1)) : end);
    const keys = contiguous(tmp(keySide.slice(1, o, Tk)));
    // The key at position j is seen by the query positions [j or start, end), i.e. by query
    // indices shifted down by o and clamped to the queries that exist.
    const querySide = range(causal ? pos : start, end);
    const queries = tmp(querySide.sub(o)).maximum(0);
    return { causal, ranges: { keys, queries } };
  });
}

/**
 * First position and one past the last position of the run of equal ids each position of
 * `ids` [B, T] belongs to (int32 [B, T] each): run r's start is scattered to slot r, then
 * gathered back through each position's run index.
 */
function documentRuns(ids: Tensor, tmp: <T extends Tensor>(t: T) => T): { start: Tensor; end: Tensor } {
  const [B, T] = ids.shape;
  const int = { dtype: 'int32' as const, backend: ids.backend };
  const first = tmp(full([B, 1], 1, { dtype: 'bool', backend: ids.backend }));
  const boundary =
    T > 1 ? tmp(concat([first, tmp(tmp(ids.slice(1, 1, T)).ne(tmp(ids.slice(1, 0, T - 1))))], 1)) : first;
  const run = tmp(tmp(tmp(boundary.cast('int32')).cumsum(1)).sub(1));
  const pos = tmp(tmp(arange(0, T, 1, int)).reshape([1, T]));
  const starts = tmp(scatterAdd(tmp(zeros([B, T], int)), 1, run, tmp(where(boundary, pos, 0))));
  const lengths = tmp(scatterAdd(tmp(zeros([B, T], int)), 1, run, tmp(ones([B, T], int))));
  const start = tmp(gather(starts, 1, run));
  const end = tmp(start.add(tmp(gather(lengths, 1, run))));
  return { start, end };
}

/** The mask of `options`: its own, or the index-only causal one. */
function maskOf(op: string, options: AttentionOptions): AttentionMask<Tensor> {
  const { mask } = options;
  if (!mask) return { causal: options.causal ?? false, ranges: null };
  if (options.causal !== undefined && options.causal !== mask.causal)
    throw new RangeError(
      `${op}: causal: ${options.causal} contradicts the mask's causal: ${mask.causal}; pass one of them`,
    );
  return mask;
}

function checkAttention(op: string, q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask<Tensor>): void {
  requireFloat(op, q);
  sameDType(op, q, k);
  sameDType(op, q, v);
  const [B, H, Tq, D] = q.shape;
  const [Bk, Hkv, Tk, Dk] = k.shape;
  const ok =
    q.ndim === 4 &&
    k.ndim === 4 &&
    v.shape.join() === k.shape.join() &&
    B === Bk &&
    D === Dk &&
    Hkv > 0 &&
    H % Hkv === 0;
  if (!ok)
    throw new ShapeError(
      `${op}: expected q [B, H, Tq, D] and k, v [B, Hkv, Tk, D] with Hkv dividing H, got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`,
    );
  if (mask.causal && !mask.ranges && Tk < Tq)
    throw new ShapeError(`${op}: causal attention needs at least as many keys (${Tk}) as queries (${Tq})`);
  if (D > 256) throw new ShapeError(`${op}: head dimension ${D} exceeds the supported 256`);
  if (mask.ranges) {
    const { keys, queries } = mask.ranges;
    for (const [what, t, rows] of [
      ['keys', keys, Tq],
      ['queries', queries, Tk],
    ] as const) {
      requireIndex(op, `mask.ranges.${what}`, t);
      if (t.shape.join() !== [B, rows, 2].join())
        throw new ShapeError(
          `${op}: mask.ranges.${what} must be [${B}, ${rows}, 2] for q ${fmtShape(q.shape)} and k ${fmtShape(k.shape)}, got ${fmtShape(t.shape)}; build the mask with attentionMask({ ..., queries: ${Tq} })`,
        );
      if (t.backend !== q.backend) throw new Error(`${op}: the mask lives on another backend than q`);
    }
  }
}

/** The tensor operands of an attention op: q, k, v and, when masked by ranges, the ranges. */
function rangeInputs(mask: AttentionMask<Tensor>): Tensor[] {
  return mask.ranges ? [mask.ranges.keys, mask.ranges.queries] : [];
}

/** The mask as views for a backend kernel (ranges made contiguous through `tmp`). */
function maskViews(mask: AttentionMask<Tensor>, tmp: <T extends Tensor>(t: T) => T) {
  const { ranges } = mask;
  return {
    causal: mask.causal,
    ranges: ranges
      ? { keys: tmp(contiguous(ranges.keys)).view_(), queries: tmp(contiguous(ranges.queries)).view_() }
      : null,
  };
}

/**
 * Scores of every group of query heads against its key head, [B, Hkv, G·Tq, Tk], with −∞ where
 * the mask hides a key, and the visibility itself ([B, 1, 1, Tq, Tk] bool) when the mask has
 * ranges. Query head h uses key/value head ⌊h / G⌋; stacking a group's heads along the rows lets
 * one batched matmul serve them without repeating k and v.
 */
function compositeScores(
  q: Tensor,
  k: Tensor,
  mask: AttentionMask<Tensor>,
  scale: number,
): { scores: Tensor; visible: Tensor | null } {
  const [B, H, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const G = H / Hkv;
  return withTemps((tmp) => {
    // no alias() of the result: under autograd recording an alias is an untracked handle
    const qg = tmp(tmp(q.mul(scale)).reshape([B, Hkv, G * Tq, D]));
    const kt = tmp(k.transpose(-2, -1));
    if (!mask.causal && !mask.ranges) return { scores: qg.matmul(kt), visible: null };
    const s = tmp(tmp(qg.matmul(kt)).reshape([B, Hkv, G, Tq, Tk]));
    const int = { dtype: 'int32' as const, backend: q.backend };
    const cols = tmp(arange(0, Tk, 1, int));
    if (!mask.ranges) {
      // additive causal mask [Tq, Tk]: −∞ where key j > query i + Tk − Tq
      const rows = tmp(tmp(arange(Tk - Tq, Tk, 1, int)).reshape([Tq, 1]));
      const bias = tmp(tmp(where(tmp(cols.gt(rows)), Number.NEGATIVE_INFINITY, 0)).cast(q.dtype));
      return { scores: tmp(s.add(bias)).reshape([B, Hkv, G * Tq, Tk]), visible: null };
    }
    const bound = (side: number) =>
      tmp(tmp(mask.ranges!.keys.slice(2, side, side + 1)).reshape([B, 1, 1, Tq, 1]));
    const visible = tmp(cols.ge(bound(0))).logicalAnd(tmp(cols.lt(bound(1))));
    const masked = tmp(where(visible, s, Number.NEGATIVE_INFINITY));
    return { scores: masked.reshape([B, Hkv, G * Tq, Tk]), visible };
  });
}

/**
 * softmax over the last axis of masked `scores` [B, Hkv, G·Tq, Tk] (one softmax op: its rule
 * saves just the output), exactly 0 where `visible` hides a key, so a query that sees no key
 * (padding, a row of NaN from the softmax) gets no probability at all.
 */
function compositeProbabilities(scores: Tensor, visible: Tensor | null): Tensor {
  if (!visible) return scores.softmax(-1);
  const [B, Hkv, GTq, Tk] = scores.shape;
  const Tq = visible.shape[3];
  return withTemps((tmp) => {
    const p = tmp(tmp(scores.softmax(-1)).reshape([B, Hkv, GTq / Tq, Tq, Tk]));
    return tmp(where(visible, p, 0)).reshape(scores.shape);
  });
}

/**
 * The attention probabilities softmax(scale · q·kᵀ, masked) as [B, H, Tq, Tk], exactly 0 where
 * the mask hides a key (and on the whole row of a query that sees no key), built from public
 * ops so it is differentiable op by op. For what the fused kernels cannot do on the Tq×Tk
 * matrix itself, such as dropout on the attention weights; everything else wants
 * {@link attention}, which never forms it.
 */
export function attentionWeights(q: Tensor, k: Tensor, options: AttentionOptions = {}): Tensor {
  const mask = maskOf('attentionWeights', options);
  checkAttention('attentionWeights', q, k, k, mask);
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[3]);
  const [B, H, Tq] = q.shape;
  const Tk = k.shape[2];
  return withTemps((tmp) => {
    const { scores, visible } = compositeScores(q, k, mask, scale);
    tmp(scores);
    if (visible) tmp(visible);
    return tmp(compositeProbabilities(scores, visible)).reshape([B, H, Tq, Tk]);
  });
}

/**
 * Attention forward returning `[out, lse]`: out [B, H, Tq, D] and the per-row log-sum-exp of the
 * scaled, masked scores [B, H, Tq] that the backward needs (−∞ for a query that sees no key,
 * whose output is 0). Fused kernels never form the Tq×Tk matrix. Most callers want
 * {@link attention}.
 */
export function attentionForward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): [Tensor, Tensor] {
  const mask = maskOf('attention', options);
  checkAttention('attention', q, k, v, mask);
  const [B, H, Tq, D] = q.shape;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const attrs = { causal: mask.causal, scale, masked: mask.ranges !== null };
  return dispatch('attention', [q, k, v, ...rangeInputs(mask)], attrs, () =>
    withTemps((tmp) => {
      const be = q.backend;
      if (be.attention) {
        const [qc, kc, vc] = [q, k, v].map((t) => tmp(contiguous(t)));
        const out = empty(be, q.shape, q.dtype);
        const lse = empty(be, [B, H, Tq], q.dtype);
        // no keys: softmax over nothing is NaN (as in PyTorch)
        if (k.shape[2] === 0)
          for (const [t, v] of [
            [out, Number.NaN],
            [lse, Number.NEGATIVE_INFINITY],
          ] as const)
            if (t.size > 0) be.fill(t.view_(), v);
        if (out.size > 0 && k.shape[2] > 0) {
          const args = { q: qc.view_(), k: kc.view_(), v: vc.view_(), scale, mask: maskViews(mask, tmp) };
          be.attention(args, out.view_(), lse.view_());
        }
        return [out, lse];
      }
      const { scores, visible } = compositeScores(q, k, mask, scale);
      tmp(scores);
      if (visible) tmp(visible);
      // −∞ for a query that sees no key (logsumexp handles rows of −∞)
      const lse = tmp(logsumexp(scores, -1, true));
      const p = tmp(compositeProbabilities(scores, visible));
      const out = tmp(p.matmul(v)).reshape(q.shape);
      return [out, lse.reshape([B, H, Tq])];
    }),
  );
}

/**
 * softmax(scale · q·kᵀ [+ mask]) · v for q [B, H, Tq, D] and k, v [B, Hkv, Tk, D]
 * (grouped-query attention when Hkv < H). Differentiable through autograd's `attention` rule,
 * whose backward recomputes the scores tile by tile.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const [out, lse] = attentionForward(q, k, v, options);
  lse.dispose(); // autograd keeps its own alias when it recorded the op
  return out;
}

/**
 * Gradients [dq, dk, dv] of attention from q, k, v, the forward's `out` and `lse`, and the
 * upstream gradient `gradOut`. The fused kernels recompute each probability from q, k and the
 * saved log-sum-exp instead of storing the Tq×Tk matrix.
 */
export function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  gradOut: Tensor,
  options: AttentionOptions = {},
): [Tensor, Tensor, Tensor] {
  const mask = maskOf('attentionBackward', options);
  checkAttention('attentionBackward', q, k, v, mask);
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[3]);
  const attrs = { causal: mask.causal, scale, masked: mask.ranges !== null };
  return dispatch('attentionBackward', [q, k, v, out, lse, gradOut, ...rangeInputs(mask)], attrs, () =>
    withTemps((tmp) => {
      const be = q.backend;
      if (be.attentionBackward) {
        const [qc, kc, vc, lc, gc] = [q, k, v, lse, gradOut].map((t) => tmp(contiguous(t)));
        // delta_i = Σ_d dO·O = Σ_j P_ij dP_ij, the row term of the softmax backward
        const delta = tmp(tmp(gradOut.mul(out)).sum(-1));
        const dq = empty(be, q.shape, q.dtype);
        const dk = empty(be, k.shape, k.dtype);
        const dv = empty(be, v.shape, v.dtype);
        if (dq.size > 0 && k.shape[2] > 0) {
          const args = { q: qc.view_(), k: kc.view_(), v: vc.view_(), scale, mask: maskViews(mask, tmp) };
          const saved = { lse: lc.view_(), delta: delta.view_(), gradOut: gc.view_() };
          be.attentionBackward(args, saved, { dq: dq.view_(), dk: dk.view_(), dv: dv.view_() });
        } else for (const t of [dq, dk, dv]) if (t.size > 0) be.fill(t.view_(), 0);
        return [dq, dk, dv];
      }
      return attentionBackwardComposite(q, k, v, gradOut, { scale, mask });
    }),
  );
}

/**
 * The attention backward from public ops only (recomputes the probabilities with a softmax), so
 * it can itself be differentiated: autograd uses it when it records backward (`createGraph`).
 */
export function attentionBackwardComposite(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  gradOut: Tensor,
  options: AttentionOptions = {},
): [Tensor, Tensor, Tensor] {
  const mask = maskOf('attentionBackward', options);
  const [B, H, Tq, D] = q.shape;
  const Hkv = k.shape[1];
  const G = H / Hkv;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  return withTemps((tmp) => {
    const { scores, visible } = compositeScores(q, k, mask, scale);
    tmp(scores);
    if (visible) tmp(visible);
    const p = tmp(compositeProbabilities(scores, visible)); // [B, Hkv, G·Tq, Tk]
    const gg = tmp(gradOut.reshape([B, Hkv, G * Tq, D]));
    const dv = tmp(p.transpose(-2, -1)).matmul(gg);
    const dp = tmp(gg.matmul(tmp(v.transpose(-2, -1))));
    const pdp = tmp(p.mul(dp));
    const ds = tmp(pdp.sub(tmp(p.mul(tmp(pdp.sum(-1, true))))));
    const dq = tmp(tmp(ds.matmul(k)).mul(scale)).reshape(q.shape);
    const qg = tmp(q.reshape([B, Hkv, G * Tq, D]));
    const dk = tmp(tmp(ds.transpose(-2, -1)).matmul(qg)).mul(scale);
    return [dq, dk, dv];
  });
}
