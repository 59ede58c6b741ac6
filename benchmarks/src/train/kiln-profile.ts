// Where one Kiln training step spends its time: the step split into forward, backward and
// optimizer phases (each ended by a readback, so each includes one round trip), the ops each
// phase dispatches (counted with a dispatch hook), and the step's matrix products replayed alone
// (same shapes and transposes, fresh random inputs, grouped by shape) to tell matmul time from
// everything else and to show which products cost most, and likewise the fused attention calls.
import { backward, valueAndGrad } from '@kiln/autograd';
import * as kilnTensor from '@kiln/tensor';
import {
  addDispatchHook,
  type MatmulActivation,
  matmulEpilogue,
  randn,
  scope,
  type Tensor,
} from '@kiln/tensor';
import type { AdamW } from '@kiln/trainer';
import type { GPT } from '@kiln/transformer';

type Phase = 'forward' | 'backward' | 'optimizer';

/**
 * A matrix product as recorded: shapes, whether an operand is a transposed view, and for the
 * fused `matmulEpilogue` ops (the forward projections) the activation and whether a bias is added.
 */
interface Product {
  a: number[];
  b: number[];
  aT: boolean;
  bT: boolean;
  epilogue: { activation: MatmulActivation; bias: boolean; keepPre: boolean } | null;
}

export interface StepProfile {
  phaseMs: Record<Phase, number>;
  /** Op name → how many times it was dispatched, per phase. */
  ops: Record<Phase, Record<string, number>>;
  opTotals: Record<Phase, number>;
  matmul: { products: number; gflop: number; replayMs: number; groups: ProductGroup[] };
  /** The fused attention calls (one per layer), forward + backward replayed alone; null without them. */
  attention: { calls: number; shape: number[]; replayMs: number } | null;
}

/** A view that is its last two dims transposed (column-major in the last two dims). */
function isTransposed(t: Tensor): boolean {
  const n = t.ndim;
  return n >= 2 && t.strides[n - 2] === 1 && t.strides[n - 1] !== 1 && t.shape[n - 2] > 1;
}

async function readOne(t: Tensor): Promise<void> {
  await scope(async () => {
    await t.flatten().narrow(0, 0, 1).data();
  });
}

function flopsOf(p: Product): number {
  const m = p.a[p.a.length - 2];
  const k = p.a[p.a.length - 1];
  const n = p.b[p.b.length - 1];
  const batch = Math.max(
    p.a.slice(0, -2).reduce((x, y) => x * y, 1),
    p.b.slice(0, -2).reduce((x, y) => x * y, 1),
  );
  return 2 * batch * m * n * k;
}

/** The products of one shape (and transpose pattern) in a step, replayed together. */
export interface ProductGroup {
  /** e.g. `[2048,128] @ [128,384]ᵀ` (ᵀ: the operand is a transposed view). */
  shape: string;
  count: number;
  gflop: number;
  ms: number;
}

function describe(p: Product): string {
  const product = `[${p.a}]${p.aT ? 'ᵀ' : ''} @ [${p.b}]${p.bT ? 'ᵀ' : ''}`;
  if (!p.epilogue) return product;
  const { activation, bias } = p.epilogue;
  return `${product}${bias ? ' + bias' : ''}${activation === 'none' ? '' : `, ${activation}`}`;
}

/**
 * Replays the products group by group (inputs made once per group, each group ended by a
 * readback). No warm-up pass: the training steps before have compiled the matmul pipelines.
 */
async function replay(products: Product[]): Promise<ProductGroup[]> {
  const make = (shape: number[], transposed: boolean) => {
    if (!transposed) return randn(shape);
    const swapped = [...shape.slice(0, -2), shape[shape.length - 1], shape[shape.length - 2]];
    // the view keeps the storage alive after the scope frees the base handle
    return scope(() => randn(swapped).transpose(-2, -1));
  };
  const groups = new Map<string, Product[]>();
  for (const p of products) groups.set(describe(p), [...(groups.get(describe(p)) ?? []), p]);
  const result: ProductGroup[] = [];
  for (const [shape, members] of groups) {
    const first = members[0];
    const a = make(first.a, first.aT);
    const b = make(first.b, first.bT);
    const ep = first.epilogue;
    const bias = ep?.bias ? randn([first.b[first.b.length - 1]]) : null;
    // the random inputs are finished before the clock starts
    for (const t of [a, b, bias]) if (t) await readOne(t);
    const product = (): Tensor =>
      ep
        ? matmulEpilogue(a, b, { bias, activation: ep.activation, keepPreActivation: ep.keepPre })
        : a.matmul(b);
    const start = performance.now();
    let last: Tensor | null = null;
    for (let i = 0; i < members.length; i++) {
      last?.dispose();
      last = product();
    }
    await readOne(last!);
    const ms = performance.now() - start;
    for (const t of [last!, a, b, bias]) t?.dispose();
    result.push({ shape, count: members.length, gflop: (members.length * flopsOf(members[0])) / 1e9, ms });
  }
  return result.sort((x, y) => y.ms - x.ms);
}

/** A fused attention call as recorded: q and k/v shapes and its attributes. */
interface AttentionCall {
  q: number[];
  kv: number[];
  causal: boolean;
  scale: number;
}

type Sdpa = (q: Tensor, k: Tensor, v: Tensor, options: { causal?: boolean; scale?: number }) => Tensor;

/**
 * Replays the step's fused attention calls, forward and backward through autograd (what the
 * step runs per layer), with fresh random inputs; milliseconds for all of them together.
 */
async function replayAttention(calls: AttentionCall[]): Promise<number | null> {
  // `attention` (called scaledDotProductAttention before the seams change)
  const ops = kilnTensor as unknown as { attention?: Sdpa; scaledDotProductAttention?: Sdpa };
  const sdpa = ops.attention ?? ops.scaledDotProductAttention;
  if (!sdpa || calls.length === 0) return null;
  const start = performance.now();
  for (const c of calls) {
    const [q, k, v, dOut] = [c.q, c.kv, c.kv, c.q].map((shape) => randn(shape));
    const f = (qq: Tensor, kk: Tensor, vv: Tensor) =>
      sdpa(qq, kk, vv, { causal: c.causal, scale: c.scale }).mul(dOut).sum();
    const [value, grads] = valueAndGrad(f, { argnums: [0, 1, 2] })(q, k, v);
    await readOne(grads[0]);
    for (const t of [value, ...grads, q, k, v, dOut]) t.dispose();
  }
  return performance.now() - start;
}

export async function profileStep(
  model: GPT,
  opt: AdamW,
  makeBatch: () => { ids: Tensor; targets: Tensor },
  loss: (ids: Tensor, targets: Tensor) => Tensor,
): Promise<StepProfile> {
  const ops: Record<Phase, Record<string, number>> = { forward: {}, backward: {}, optimizer: {} };
  const products: Product[] = [];
  const attention: AttentionCall[] = [];
  let phase: Phase = 'forward';
  const remove = addDispatchHook((r) => {
    ops[phase][r.op] = (ops[phase][r.op] ?? 0) + 1;
    if (phase !== 'optimizer' && (r.op === 'matmul' || r.op === 'matmulEpilogue')) {
      const [a, b] = r.inputs;
      const epilogue =
        r.op === 'matmul'
          ? null
          : {
              activation: r.attrs.activation,
              bias: r.attrs.hasBias,
              keepPre: r.attrs.keepPreActivation,
            };
      products.push({ a: [...a.shape], b: [...b.shape], aT: isTransposed(a), bT: isTransposed(b), epilogue });
    }
    if (r.op === 'attention' && phase === 'forward') {
      const [q, k] = r.inputs;
      const { causal, scale } = r.attrs;
      attention.push({ q: [...q.shape], kv: [...k.shape], causal, scale });
    }
  });
  const phaseMs: Record<Phase, number> = { forward: 0, backward: 0, optimizer: 0 };
  const { ids, targets } = makeBatch();
  const firstParam = model.parameters()[0];
  try {
    let start = performance.now();
    const l = loss(ids, targets);
    await l.item();
    phaseMs.forward = performance.now() - start;

    phase = 'backward';
    start = performance.now();
    backward(l);
    await readOne(firstParam.grad!);
    phaseMs.backward = performance.now() - start;

    phase = 'optimizer';
    start = performance.now();
    opt.step();
    await readOne(firstParam);
    phaseMs.optimizer = performance.now() - start;
    for (const t of [l, ids, targets]) t.dispose();
  } finally {
    remove();
    opt.zeroGrad();
  }
  const groups = await replay(products);
  const attentionMs = await replayAttention(attention);
  const total = (p: Phase) => Object.values(ops[p]).reduce((x, y) => x + y, 0);
  return {
    phaseMs,
    ops,
    opTotals: { forward: total('forward'), backward: total('backward'), optimizer: total('optimizer') },
    matmul: {
      products: products.length,
      gflop: products.reduce((s, p) => s + flopsOf(p), 0) / 1e9,
      replayMs: groups.reduce((s, g) => s + g.ms, 0),
      groups,
    },
    attention:
      attentionMs === null
        ? null
        : { calls: attention.length, shape: attention[0]?.q ?? [], replayMs: attentionMs },
  };
}
