/**
 * The feed-forward slot: a kind registered here (not in src) builds into a GPT with its own
 * parameter and Hugging Face names, computes what a hand-written pass computes, trains, reports
 * auxiliary losses and metrics into the output, and round-trips through state dicts and
 * model directories; per-layer specs mix kinds; bad specs are ConfigErrors naming the field; the
 * default kinds build exactly the models of before.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTracked, Module, noGrad, Parameter, valueAndGrad } from '@kiln/autograd';
import { manualSeed, memory, randn, scope, type Tensor, tensor } from '@kiln/tensor';
import { readSafetensorsFile } from '@kiln/tensor/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ConfigError,
  createFeedForward,
  type FeedForward,
  type FeedForwardContext,
  type FeedForwardDims,
  type FeedForwardFactory,
  type FeedForwardSpec,
  feedForwardKinds,
  fromHFConfig,
  GeluMLP,
  GPT,
  type GPTConfig,
  type HFBinding,
  type HFNaming,
  hfBindings,
  ModelFileError,
  registerFeedForward,
  resolveConfig,
  SwiGLU,
  toHFConfig,
} from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { initCpu, maxAbsDiff, randomTokens } from './helpers.js';

await initCpu();

/**
 * A feed-forward kind defined by this test: `outer(tanh(inner(x)))` without biases. It reports
 * `coef · mean(h²)` (h = tanh(inner(x))) as the auxiliary loss `activation` and mean |h| as the
 * metric `meanAbs`, and names its weights `tanh_ff.w_in` / `tanh_ff.w_out` in checkpoints
 * (stored transposed under GPT-2 naming, as GPT-2's Conv1D would).
 */
class TanhFeedForward extends Module implements FeedForward {
  inner: Parameter;
  outer: Parameter;
  /** The token masks it was given, to check what the model passes. */
  readonly masks: (Tensor | undefined)[] = [];

  constructor(
    dims: FeedForwardDims,
    readonly hidden: number,
    readonly coef: number,
  ) {
    super();
    this.inner = new Parameter(randn([hidden, dims.dModel], { std: 0.3, backend: dims.backend }));
    this.outer = new Parameter(randn([dims.dModel, hidden], { std: 0.3, backend: dims.backend }));
  }

  forward(x: Tensor, context?: FeedForwardContext): Tensor {
    return scope(() => {
      const h = x.matmul(this.inner.T).tanh();
      if (context) {
        this.masks.push(context.tokenMask);
        context.reportAuxLoss('activation', h.square().mean().mul(this.coef));
        context.reportMetric(
          'meanAbs',
          noGrad(() => h.abs().mean()),
        );
      }
      return h.matmul(this.outer.T);
    });
  }

  hfBindings(prefix: string, naming: HFNaming): HFBinding[] {
    const transpose = naming === 'gpt2';
    return [
      { name: `${prefix}tanh_ff.w_in.weight`, param: this.inner, transpose },
      { name: `${prefix}tanh_ff.w_out.weight`, param: this.outer, transpose },
    ];
  }
}

const tanhKind: FeedForwardFactory = {
  create: (spec, dims) => new TanhFeedForward(dims, spec.hidden as number, (spec.coef as number) ?? 0.1),
  validate(spec, field) {
    const { hidden, coef } = spec;
    if (typeof hidden !== 'number' || !Number.isInteger(hidden) || hidden < 1)
      throw new ConfigError(`${field}.hidden must be a positive integer, got ${JSON.stringify(hidden)}`);
    if (coef !== undefined && typeof coef !== 'number')
      throw new ConfigError(`${field}.coef must be a number, got ${JSON.stringify(coef)}`);
  },
};
registerFeedForward('tanh-test', tanhKind);

/** A kind whose module misbehaves on request, for the reporting errors. */
class Misbehaving extends GeluMLP {
  constructor(
    dims: FeedForwardDims,
    readonly mode: string,
  ) {
    super(dims.dModel, dims.dFF, dims);
  }
  override forward(x: Tensor, context?: FeedForwardContext): Tensor {
    return scope(() => {
      const y = super.forward(x);
      if (!context) return y;
      if (this.mode === 'vector') context.reportAuxLoss('bad', y.mean(-1));
      if (this.mode === 'twice' || this.mode === 'throw') context.reportAuxLoss('once', y.square().mean());
      if (this.mode === 'twice') context.reportAuxLoss('once', y.square().mean());
      if (this.mode === 'throw') throw new Error('misbehaving: failed after reporting');
      return y;
    });
  }
}
registerFeedForward('misbehaving-test', {
  create: (spec, dims) => new Misbehaving(dims, String(spec.mode)),
});

const TANH: FeedForwardSpec = { kind: 'tanh-test', hidden: 12, coef: 0.25 };
const tinyGpt2 = (extra: Partial<GPTConfig> = {}): GPTConfig => ({
  family: 'gpt2',
  vocabSize: 40,
  contextLength: 16,
  nLayers: 2,
  nHeads: 2,
  dModel: 16,
  ...extra,
});
const ids = tensor([randomTokens(7, 40, 1), randomTokens(7, 40, 2)], { dtype: 'int32' });
const targets = tensor([randomTokens(7, 40, 3), randomTokens(7, 40, 4)], { dtype: 'int32' });

function build(config: GPTConfig, seed = 0): GPT {
  manualSeed(seed);
  return new GPT(config);
}

async function host(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/**
 * The GPT-2 forward written out with the custom module's formula in place of its forward:
 * embeddings, then per block `h = x + attn(norm1(x))`, `x = h + outer(tanh(inner(norm2(h))))`,
 * then the final norm and the tied head. Also returns the auxiliary loss and metric each block's
 * formula gives.
 */
function referencePass(model: GPT): { logits: Tensor; aux: Tensor[]; meanAbs: Tensor[] } {
  const T = ids.shape[1];
  let x = model.tokenEmbedding.forward(ids).add(model.positionEmbedding!.weight.slice(0, 0, T));
  const aux: Tensor[] = [];
  const meanAbs: Tensor[] = [];
  for (const block of model.blocks) {
    const mlp = block.mlp as TanhFeedForward;
    const h = x.add(block.attn.forward(block.norm1.forward(x)));
    const hidden = block.norm2.forward(h).matmul(mlp.inner.T).tanh();
    aux.push(hidden.square().mean().mul(mlp.coef));
    meanAbs.push(hidden.abs().mean());
    x = h.add(hidden.matmul(mlp.outer.T));
  }
  return { logits: model.norm.forward(x).matmul(model.head.weight.T), aux, meanAbs };
}

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-feed-forward-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `m${counter++}`);

describe('a feed-forward kind registered outside the transformer', () => {
  test('is listed after the built-in kinds', () => {
    expect(feedForwardKinds().slice(0, 3)).toEqual(['gelu', 'swiglu', 'tanh-test']);
  });

  test('the module computes outer(tanh(inner(x))) (host reference)', async () => {
    manualSeed(5);
    const dims = { dModel: 4, dFF: 99, bias: false, outputStd: 0.02 };
    const ff = createFeedForward({ kind: 'tanh-test', hidden: 3 }, dims) as TanhFeedForward;
    expect(ff).toBeInstanceOf(TanhFeedForward);
    expect(ff.coef).toBe(0.1); // the kind's default
    const xs = Array.from({ length: 8 }, (_, i) => Math.sin(i + 1));
    const [win, wout] = [await ff.inner.toArray(), await ff.outer.toArray()] as number[][][];
    const want: number[] = [];
    for (let row = 0; row < 2; row++) {
      const x = xs.slice(4 * row, 4 * row + 4);
      const h = win.map((w) => Math.tanh(w.reduce((s, wj, j) => s + wj * x[j], 0)));
      for (const w of wout) want.push(w.reduce((s, wj, j) => s + wj * h[j], 0));
    }
    const got = await host(ff.forward(tensor(xs, { shape: [2, 4] })));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
  });

  test('a GPT built with it: parameter names, forward, auxiliary losses and metrics', async () => {
    const model = build(tinyGpt2({ feedForward: TANH }));
    const names = model.namedParameters().map(([n]) => n);
    expect(names.filter((n) => n.includes('.mlp.'))).toEqual([
      'blocks.0.mlp.inner',
      'blocks.0.mlp.outer',
      'blocks.1.mlp.inner',
      'blocks.1.mlp.outer',
    ]);
    expect(model.blocks[0].mlp).toBeInstanceOf(TanhFeedForward);
    expect(model.stateDict()['blocks.1.mlp.inner'].shape).toEqual([12, 16]);

    const out = model.forward(ids, targets);
    const ref = referencePass(model);
    expect(maxAbsDiff(await host(out.logits), await host(ref.logits))).toBeLessThan(1e-5);
    expect(Object.keys(out.auxLosses)).toEqual(['blocks.0.mlp.activation', 'blocks.1.mlp.activation']);
    expect(Object.keys(out.metrics)).toEqual(['blocks.0.mlp.meanAbs', 'blocks.1.mlp.meanAbs']);
    for (const i of [0, 1]) {
      const aux = out.auxLosses[`blocks.${i}.mlp.activation`];
      expect(aux.shape).toEqual([]);
      expect(Math.abs((await aux.item()) - (await ref.aux[i].item()))).toBeLessThan(1e-6);
      expect(isTracked(aux)).toBe(true); // part of the graph: it can be trained on
      const metric = out.metrics[`blocks.${i}.mlp.meanAbs`];
      expect(Math.abs((await metric.item()) - (await ref.meanAbs[i].item()))).toBeLessThan(1e-6);
      expect(isTracked(metric)).toBe(false); // the module detached it
    }
    // the model passes no token mask yet
    expect((model.blocks[0].mlp as TanhFeedForward).masks).toEqual([undefined]);
    model.dispose();
  });

  test('gradients of the loss and of the auxiliary losses reach its parameters (vs the hand-written pass)', async () => {
    const model = build(tinyGpt2({ feedForward: TANH }), 1);
    const [loss, grads] = valueAndGrad((m: GPT) => m.forward(ids, targets).loss!)(model);
    const [refLoss, refGrads] = valueAndGrad((m: GPT) => {
      const { logits } = referencePass(m);
      return logits
        .reshape([-1, 40])
        .logSoftmax(-1)
        .gather(1, targets.reshape([-1, 1]))
        .mean()
        .neg();
    })(model);
    expect(Math.abs((await loss.item()) - (await refLoss.item()))).toBeLessThan(1e-5);
    for (const name of ['blocks.0.mlp.inner', 'blocks.1.mlp.outer', 'blocks.0.attn.qkv.weight']) {
      const g = await host(grads[name]);
      expect(Math.max(...g.map(Math.abs)), name).toBeGreaterThan(0);
      expect(maxAbsDiff(g, await host(refGrads[name])), name).toBeLessThan(1e-5);
    }

    const sumAux = (aux: Record<string, Tensor> | Tensor[]) =>
      Object.values(aux).reduce((a: Tensor, b: Tensor) => a.add(b));
    const [aux, auxGrads] = valueAndGrad((m: GPT) => sumAux(m.forward(ids).auxLosses))(model);
    const [refAux, refAuxGrads] = valueAndGrad((m: GPT) => sumAux(referencePass(m).aux))(model);
    expect(Math.abs((await aux.item()) - (await refAux.item()))).toBeLessThan(1e-6);
    // block 1's aux loss also reaches block 0 through the residual stream
    for (const name of ['blocks.0.mlp.inner', 'blocks.1.mlp.inner', 'blocks.0.attn.qkv.weight']) {
      const g = await host(auxGrads[name]);
      expect(Math.max(...g.map(Math.abs)), name).toBeGreaterThan(0);
      expect(maxAbsDiff(g, await host(refAuxGrads[name])), name).toBeLessThan(1e-6);
    }
    // the last block's aux loss is computed before its output projection: no gradient there
    expect(Math.max(...(await host(auxGrads['blocks.1.mlp.outer'])).map(Math.abs))).toBe(0);
    model.dispose();
  });

  test('reports belong to the caller: they survive forward and are freed with the caller scope', async () => {
    const model = build(tinyGpt2({ feedForward: TANH }), 2);
    const live = memory().liveTensors;
    // (under noGrad: a graph that is never run backward keeps its saved tensors a while)
    noGrad(() =>
      scope(() => {
        const out = model.forward(ids, targets);
        expect(Object.keys(out.auxLosses)).toHaveLength(2);
      }),
    );
    expect(memory().liveTensors).toBe(live);
    const out = noGrad(() => model.forward(ids));
    const values = await Promise.all(Object.values(out.auxLosses).map((t) => t.item()));
    expect(values.every((v) => v > 0)).toBe(true);
    for (const t of [out.logits, ...Object.values(out.auxLosses), ...Object.values(out.metrics)]) t.dispose();
    expect(memory().liveTensors).toBe(live);
    model.dispose();
  });

  test('the incremental forward and generation give it no context (nothing reported, nothing leaked)', async () => {
    const model = build(tinyGpt2({ feedForward: TANH }), 3);
    const live = memory().liveTensors;
    const generated: number[] = [];
    for await (const id of model.generate([1, 2, 3], { maxTokens: 4, temperature: 0 })) generated.push(id);
    expect(memory().liveTensors).toBe(live);
    expect((model.blocks[0].mlp as TanhFeedForward).masks).toEqual([]);
    // greedy decoding equals the argmax of full forwards
    const tokens = [1, 2, 3];
    for (let i = 0; i < 4; i++) {
      const next = await scope(async () => {
        const { logits } = noGrad(() => model.forward(tensor([tokens], { dtype: 'int32' })));
        return logits
          .slice(1, tokens.length - 1, tokens.length)
          .reshape([40])
          .argmax()
          .item();
      });
      tokens.push(next);
    }
    expect(generated).toEqual(tokens.slice(3));
    model.dispose();
  });

  test('state dict round trip', async () => {
    const a = build(tinyGpt2({ feedForward: TANH }), 4);
    const b = build(tinyGpt2({ feedForward: TANH }), 5);
    const logitsOf = (m: GPT) => scope(async () => host(noGrad(() => m.forward(ids).logits)));
    expect(maxAbsDiff(await logitsOf(a), await logitsOf(b))).toBeGreaterThan(0);
    b.loadStateDict(a.stateDict());
    expect(await logitsOf(b)).toEqual(await logitsOf(a));
    a.dispose();
    b.dispose();
  });

  test.each(['gpt2', 'llama'] as const)(
    '%s: saveModel / loadModel round trip with its own Hugging Face names',
    async (family) => {
      const config = { ...tinyGpt2({ feedForward: TANH }), family };
      const model = build(config, 6);
      const dir = freshDir();
      await saveModel(model, dir);
      const stored = (await readSafetensorsFile(join(dir, 'model.safetensors'))).tensors;
      const block = family === 'gpt2' ? 'transformer.h.1.' : 'model.layers.1.';
      // transposed ([in, out]) under GPT-2 naming, [out, in] under Llama naming
      expect(stored.get(`${block}tanh_ff.w_in.weight`)?.shape).toEqual(
        family === 'gpt2' ? [16, 12] : [12, 16],
      );
      expect(stored.get(`${block}tanh_ff.w_out.weight`)?.shape).toEqual(
        family === 'gpt2' ? [12, 16] : [16, 12],
      );
      expect([...stored.keys()].filter((n) => n.includes('mlp'))).toEqual([]);
      const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      expect(json.kiln_config.feedForward).toEqual(TANH);

      const loaded = await loadModel(dir);
      expect(loaded.config).toEqual(model.config);
      expect(loaded.blocks[1].mlp).toBeInstanceOf(TanhFeedForward);
      const logitsOf = (m: GPT) => scope(async () => host(noGrad(() => m.forward(ids).logits)));
      expect(await logitsOf(loaded)).toEqual(await logitsOf(model));
      model.dispose();
      loaded.dispose();
    },
  );

  test('a config.json naming a kind that is not registered is a ModelFileError naming it', () => {
    const json = toHFConfig(resolveConfig(tinyGpt2()));
    json.kiln_config = { ...tinyGpt2(), feedForward: { kind: 'moe', experts: 4 } };
    expect(() => fromHFConfig(json, 'ckpt/config.json')).toThrow(ModelFileError);
    expect(() => fromHFConfig(json, 'ckpt/config.json')).toThrow(
      /ckpt\/config.json: GPTConfig.feedForward.kind 'moe' is not a registered feed-forward kind; registered kinds: gelu, swiglu, tanh-test.*registerFeedForward\('moe'/,
    );
  });
});

describe('reporting errors', () => {
  test.each([
    [
      'vector',
      /reportAuxLoss\('blocks\.0\.mlp\.bad'\): an auxiliary loss must be a 0-d float tensor.*\[2,7\]/,
    ],
    ['twice', /'blocks\.0\.mlp\.once' was already reported in this forward pass/],
    ['throw', /misbehaving: failed after reporting/],
  ])('%s: a clear error, and nothing leaked', (mode, message) => {
    const model = build(tinyGpt2({ feedForward: { kind: 'misbehaving-test', mode } }));
    const live = memory().liveTensors;
    expect(() => noGrad(() => model.forward(ids))).toThrow(message);
    expect(memory().liveTensors).toBe(live);
    model.dispose();
  });
});

describe('per-layer specs', () => {
  const mixed: FeedForwardSpec[] = [{ kind: 'gelu' }, { kind: 'swiglu', dFF: 24 }, TANH];

  test.each(['gpt2', 'llama'] as const)('%s: one spec per block, mixing kinds', async (family) => {
    const config = tinyGpt2({ family, nLayers: 3, dFF: 40, feedForward: mixed });
    const model = build(config, 7);
    expect(model.blocks.map((b) => b.mlp.constructor)).toEqual([GeluMLP, SwiGLU, TanhFeedForward]);
    const shapes = Object.fromEntries(model.namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes['blocks.0.mlp.fc.weight']).toEqual([40, 16]); // the config's dFF …
    expect(shapes['blocks.1.mlp.gate.weight']).toEqual([24, 16]); // … or the spec's own
    expect(shapes['blocks.2.mlp.inner']).toEqual([12, 16]);

    const names = hfBindings(model).map((b) => b.name);
    const p = family === 'gpt2' ? 'transformer.h.' : 'model.layers.';
    const gelu = family === 'gpt2' ? ['mlp.c_fc', 'mlp.c_proj'] : ['mlp.up_proj', 'mlp.down_proj'];
    for (const n of gelu) expect(names).toContain(`${p}0.${n}.weight`);
    for (const n of ['gate_proj', 'up_proj', 'down_proj']) expect(names).toContain(`${p}1.mlp.${n}.weight`);
    expect(names).toContain(`${p}2.tanh_ff.w_in.weight`);

    const out = model.forward(ids);
    expect(Object.keys(out.auxLosses)).toEqual(['blocks.2.mlp.activation']);
    const dir = freshDir();
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(loaded.config.feedForward).toEqual(mixed);
    const logitsOf = (m: GPT) => scope(async () => host(noGrad(() => m.forward(ids).logits)));
    expect(await logitsOf(loaded)).toEqual(await logitsOf(model));
    model.dispose();
    loaded.dispose();
  });
});

describe('the default kinds build the models of before', () => {
  async function snapshot(
    config: GPTConfig,
  ): Promise<{ names: string[]; params: number[]; logits: number[] }> {
    const model = build(config, 11);
    const params = (await Promise.all(model.parameters().map(host))).flat();
    const logits = await scope(async () => host(noGrad(() => model.forward(ids).logits)));
    const names = model.namedParameters().map(([n]) => n);
    model.dispose();
    return { names, params, logits };
  }

  test.each([
    ['gpt2', tinyGpt2(), [{ kind: 'gelu' }, [{ kind: 'gelu' }, { kind: 'gelu' }], { kind: 'gelu', dFF: 64 }]],
    [
      'llama',
      { ...tinyGpt2(), family: 'llama' } as GPTConfig,
      [{ kind: 'swiglu' }, [{ kind: 'swiglu' }, { kind: 'swiglu' }], { kind: 'swiglu', dFF: 64 }],
    ],
  ] as const)(
    '%s: naming the family default explicitly changes nothing, bit for bit',
    async (_, config, specs) => {
      const base = await snapshot(config);
      expect(base.names).toContain(
        config.family === 'gpt2' ? 'blocks.1.mlp.proj.bias' : 'blocks.1.mlp.down.weight',
      );
      for (const feedForward of specs) {
        const got = await snapshot({ ...config, feedForward: feedForward as FeedForwardSpec });
        expect(got.names).toEqual(base.names);
        expect(got.params).toEqual(base.params);
        expect(got.logits).toEqual(base.logits);
      }
    },
  );

  test('a config without feedForward resolves without one (config.json as before)', () => {
    for (const name of ['gpt2-tiny', 'llama-tiny'] as const) {
      const c = resolveConfig(GPT.config(name));
      expect('feedForward' in c).toBe(false);
      expect('feedForward' in (toHFConfig(c).kiln_config as object)).toBe(false);
    }
  });

  test('hfBindings names the default modules as GPT2LMHeadModel and LlamaForCausalLM do', () => {
    const gpt2 = build(tinyGpt2());
    expect(
      hfBindings(gpt2)
        .filter((b) => b.name.startsWith('transformer.h.0.mlp'))
        .map((b) => [b.name, b.transpose ?? false]),
    ).toEqual([
      ['transformer.h.0.mlp.c_fc.weight', true],
      ['transformer.h.0.mlp.c_fc.bias', false],
      ['transformer.h.0.mlp.c_proj.weight', true],
      ['transformer.h.0.mlp.c_proj.bias', false],
    ]);
    const llama = build({ ...tinyGpt2(), family: 'llama' });
    expect(
      hfBindings(llama)
        .filter((b) => b.name.startsWith('model.layers.1.mlp'))
        .map((b) => [b.name, b.transpose ?? false]),
    ).toEqual([
      ['model.layers.1.mlp.gate_proj.weight', false],
      ['model.layers.1.mlp.up_proj.weight', false],
      ['model.layers.1.mlp.down_proj.weight', false],
    ]);
    gpt2.dispose();
    llama.dispose();
  });
});

describe('config errors', () => {
  const base = tinyGpt2();
  test.each([
    [
      { kind: 'moe' },
      /GPTConfig\.feedForward\.kind 'moe' is not a registered feed-forward kind; registered kinds: gelu, swiglu, tanh-test, misbehaving-test/,
    ],
    [
      {},
      /GPTConfig\.feedForward\.kind must be the name of a registered feed-forward kind \(gelu, swiglu, tanh-test/,
    ],
    [
      'gelu',
      /GPTConfig\.feedForward must be an object \{ kind, \.\.\.options \} such as \{ kind: 'gelu' \}, got "gelu"/,
    ],
    [
      [{ kind: 'gelu' }, { kind: 'gelu' }, { kind: 'gelu' }],
      /GPTConfig\.feedForward has 3 spec\(s\) but nLayers is 2/,
    ],
    [
      [{ kind: 'gelu' }, { kind: 'gelu', dFF: 0 }],
      /GPTConfig\.feedForward\[1\]\.dFF must be a positive integer.*got 0/,
    ],
    [
      { kind: 'swiglu', width: 3 },
      /GPTConfig\.feedForward has unknown option\(s\) width; 'swiglu' takes only dFF/,
    ],
    [
      [{ kind: 'gelu' }, { kind: 'tanh-test', hidden: 'x' }],
      /GPTConfig\.feedForward\[1\]\.hidden must be a positive integer, got "x"/,
    ],
    [
      { kind: 'tanh-test', hidden: 4, coef: Number.NaN },
      /GPTConfig\.feedForward\.coef must be JSON .*got NaN/,
    ],
    [
      { kind: 'tanh-test', hidden: 4, extra: { f: () => 1 } },
      /GPTConfig\.feedForward\.extra\.f must be JSON .*got a function/,
    ],
  ])('%o is a ConfigError naming the field', (feedForward, message) => {
    const config = { ...base, feedForward } as unknown as GPTConfig;
    expect(() => resolveConfig(config)).toThrow(ConfigError);
    expect(() => resolveConfig(config)).toThrow(message);
    expect(() => new GPT(config)).toThrow(message);
  });

  test('the resolved config holds a copy of the specs', () => {
    const spec = { kind: 'swiglu', dFF: 32 };
    const c = resolveConfig({ ...base, feedForward: spec });
    spec.dFF = 7;
    expect(c.feedForward).toEqual({ kind: 'swiglu', dFF: 32 });
  });

  test('registerFeedForward checks its arguments; the same factory twice is a no-op', () => {
    expect(() => registerFeedForward('tanh-test', tanhKind)).not.toThrow();
    expect(() => registerFeedForward('tanh-test', { create: tanhKind.create })).toThrow(
      /'tanh-test' is already registered with another factory/,
    );
    expect(() => registerFeedForward('gelu', { create: tanhKind.create })).toThrow(/already registered/);
    expect(() => registerFeedForward('', tanhKind)).toThrow(/kind must be a name such as 'moe'/);
    expect(() => registerFeedForward('x y', tanhKind)).toThrow(/kind must be a name/);
    expect(() => registerFeedForward('nofactory', {} as FeedForwardFactory)).toThrow(
      /the factory must be an object with create\(spec, dims\)/,
    );
    expect(feedForwardKinds()).not.toContain('nofactory');
  });

  test('a factory that returns something other than a feed-forward Module is named in the error', () => {
    registerFeedForward('not-a-module-test', { create: () => ({ forward: () => null }) as never });
    expect(() => new GPT({ ...base, feedForward: { kind: 'not-a-module-test' } })).toThrow(
      /feed-forward kind 'not-a-module-test': create\(\) must return a Module with forward\(x, context\) and hfBindings/,
    );
  });
});
