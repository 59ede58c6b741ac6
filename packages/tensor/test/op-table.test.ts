/**
 * The op table (`OPS`) against what dispatch actually reports: every reported name is in the
 * table and not a composite, composites are never reported, and the attributes that select a
 * variant (gelu's `approximate`, matmulEpilogue's `keepPreActivation`) are what the ops pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as K from '../src/index.js';
import { dispatch, OPS } from '../src/internal.js';

beforeAll(async () => {
  await K.init({ backend: 'cpu' });
});

/** Every record dispatch reports while `fn` runs (inside a scope). */
function recorded(fn: () => void): K.OpRecord[] {
  const seen: K.OpRecord[] = [];
  const remove = K.addDispatchHook((r) => seen.push(r));
  try {
    K.scope(fn);
  } finally {
    remove();
  }
  return seen;
}

describe('the op table', () => {
  it('names every op dispatch reports, none of them composite', () => {
    const ops = recorded(() => {
      const x = K.randn([3, 4]);
      const w = K.randn([4]);
      const ids = K.tensor([0, 2, 1], { dtype: 'int32' });
      x.gelu({ approximate: 'tanh' }).logSoftmax().add(x.softmax(0)).sum([1], true);
      K.layerNorm(x, w, w);
      K.rmsNorm(x, w);
      K.crossEntropy(x.slice(1, 0, 3), ids);
      K.matmulEpilogue(x, x.T, { activation: 'relu', keepPreActivation: true });
      x.gt(0).logicalAnd(x.lt(1)).logicalNot();
      x.indexSelect(0, ids).argmax(1);
      K.scatterAdd(x, 0, ids.reshape([3, 1]).expand([3, 4]), x.slice(0, 0, 3));
      K.zeros([2]).assign(K.ones([2]));
    }).map((r) => r.op);
    for (const op of ['gelu', 'logSoftmax', 'layerNorm', 'rmsNorm', 'crossEntropy', 'matmulEpilogue'])
      expect(ops).toContain(op);
    expect(ops).toContain('logicalAnd');
    expect(ops).toContain('indexSelect');
    expect(ops).toContain('scatterAdd');
    const unknown = ops.filter((op) => !(op in OPS) || OPS[op as keyof typeof OPS].kind === 'composite');
    expect(unknown).toEqual([]);
  });

  it('never reports a composite op, only its parts', () => {
    const ops = recorded(() => {
      const x = K.rand([4, 4]);
      x.var(1);
      x.logsumexp(0);
      K.stack([x, x]);
      x.split(2, 0);
      K.embedding(K.tensor([1, 0], { dtype: 'int32' }), x);
      K.multinomial(x, 2);
      K.oneHot(K.tensor([1, 3], { dtype: 'int32' }), 4);
      K.tril(x);
      K.triu(x);
      const [p, g, m, v] = [K.zeros([3]), K.ones([3]), K.zeros([3]), K.zeros([3])];
      K.adamwUpdate([p], [g], [m], [v], {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weightDecay: 0,
        step: 1,
      });
    }).map((r) => r.op);
    const composites = Object.entries(OPS)
      .filter(([, spec]) => spec.kind === 'composite')
      .map(([op]) => op);
    expect(composites).toContain('adamwUpdate');
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.filter((op) => composites.includes(op))).toEqual([]);
  });

  it('reports the attributes that select a variant', () => {
    const records = recorded(() => {
      const x = K.randn([2, 3]);
      x.gelu();
      x.gelu({ approximate: 'tanh' });
      K.matmulEpilogue(x, x.T, { activation: 'geluTanh' });
      K.matmulEpilogue(x, x.T, { activation: 'geluTanh', keepPreActivation: true });
      K.matmulEpilogue(x, x.T, { keepPreActivation: true }); // nothing to keep without an activation
    });
    const gelus = records.flatMap((r) => (r.op === 'gelu' ? [r.attrs.approximate] : []));
    expect(gelus).toEqual(['none', 'tanh']);
    const kept = records.flatMap((r) =>
      r.op === 'matmulEpilogue' ? [[r.attrs.keepPreActivation, r.outputs.length]] : [],
    );
    expect(kept).toEqual([
      [false, 1],
      [true, 2],
      [false, 1],
    ]);
  });

  it('gives every op without a gradient a reason', () => {
    for (const [op, spec] of Object.entries(OPS))
      if (['nonDifferentiable', 'backward', 'inPlace', 'creation'].includes(spec.kind))
        expect(spec.reason, op).not.toBe('');
  });

  it('refuses a name it does not know, saying where ops are declared', () => {
    const x = K.zeros([1]);
    const unknown = 'softplus' as keyof typeof OPS;
    expect(() => dispatch(unknown, [x], {} as never, () => x)).toThrow(/unknown op 'softplus'.*op-table\.ts/);
    x.dispose();
  });
});
