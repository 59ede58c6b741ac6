// The Kiln ↔ Hugging Face name map as public data: every HF tensor of a checkpoint, the Kiln
// parameter it is, and the fused qkv's row blocks in q, k, v order.
import { describe, expect, it } from 'vitest';
import { GPT, hfNameMap } from '../src/index.js';
import { initCpu } from './helpers.js';

await initCpu();

describe('hfNameMap', () => {
  it('maps Llama q/k/v_proj to row blocks of the fused qkv, in q, k, v order', () => {
    const model = new GPT({
      family: 'llama',
      vocabSize: 16,
      contextLength: 8,
      nLayers: 1,
      nHeads: 4,
      nKvHeads: 2,
      dModel: 16,
      tieEmbeddings: true,
    });
    const map = hfNameMap(model);
    const byHf = Object.fromEntries(map.map((e) => [e.hf, e]));
    const hd = 4;
    expect(byHf['model.layers.0.self_attn.q_proj.weight']).toEqual({
      hf: 'model.layers.0.self_attn.q_proj.weight',
      kiln: 'blocks.0.attn.qkv.weight',
      hfShape: [4 * hd, 16],
      kilnShape: [(4 + 2 * 2) * hd, 16],
      rows: [0, 16],
    });
    expect(byHf['model.layers.0.self_attn.k_proj.weight'].rows).toEqual([16, 24]);
    expect(byHf['model.layers.0.self_attn.v_proj.weight'].rows).toEqual([24, 32]);
    expect(byHf['model.embed_tokens.weight'].kiln).toBe('tokenEmbedding.weight');
    // every parameter is covered, and a tied head has no lm_head entry
    const kilnNames = new Set(map.map((e) => e.kiln));
    for (const [name] of model.namedParameters()) expect(kilnNames).toContain(name);
    expect(byHf['lm_head.weight']).toBeUndefined();
  });

  it('maps GPT-2 c_attn to the whole qkv, transposed', () => {
    const model = new GPT({
      family: 'gpt2',
      vocabSize: 16,
      contextLength: 8,
      nLayers: 1,
      nHeads: 2,
      dModel: 8,
    });
    const cAttn = hfNameMap(model).find((e) => e.hf === 'transformer.h.0.attn.c_attn.weight')!;
    expect(cAttn).toEqual({
      hf: cAttn.hf,
      kiln: 'blocks.0.attn.qkv.weight',
      hfShape: [8, 24],
      kilnShape: [24, 8],
      transpose: true,
    });
  });
});
