// Kiln's half of the interop check against the real Hugging Face libraries (run.sh runs it on
// the device machine, whose Python has transformers and peft; hf_interop.py is the other half).
//
//   node kiln-interop.mjs export <dir>   GPT-2 and Llama models with random weights (every
//                                        parameter perturbed, so no LayerNorm sits at 1 and no
//                                        bias at 0), saved with saveModel, a LoRA adapter saved
//                                        with saveAdapter, and Kiln's logits of each on fixed ids
//   node kiln-interop.mjs import <dir>   the models and the adapter that transformers and peft
//                                        saved (hf_interop.py make-hf), loaded with loadModel and
//                                        loadAdapter, and Kiln's logits of each
// Logits go to <dir>/<name>.kiln-logits.json as { ids, shape, logits }.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '@kiln/autograd';
import { init, manualSeed, randn, type Tensor, tensor } from '@kiln/tensor';
import { applyLoRA, GPT, type GPTConfig, loraParameters } from '@kiln/transformer';
import { loadAdapter, loadModel, saveAdapter, saveModel } from '@kiln/transformer/node';

const [mode, dir] = process.argv.slice(2);
if ((mode !== 'export' && mode !== 'import') || !dir) {
  console.error('usage: kiln-interop.mjs export|import <dir>');
  process.exit(2);
}
const info = await init();
console.error(`[kiln-interop] ${info.name}: ${info.device}`);

// Two sequences of 16 ids, the same in every run and on both sides
const IDS = Array.from({ length: 2 * 16 }, (_, i) => (i * 7919 + 13) % 1000);

async function writeLogits(model: GPT, name: string): Promise<void> {
  const ids = tensor(Int32Array.from(IDS), { shape: [2, 16], dtype: 'int32' });
  const logits = noGrad(() => model.forward(ids).logits);
  const values = Array.from(await logits.data());
  writeFileSync(
    join(dir, `${name}.kiln-logits.json`),
    JSON.stringify({ ids: IDS, shape: logits.shape, logits: values }),
  );
  ids.dispose();
  logits.dispose();
  console.error(`[kiln-interop] ${name}: logits ${logits.shape.join('×')} written`);
}

/** Adds N(0, std²) noise to every parameter of `named`. */
function perturb(named: Iterable<[string, Tensor]>, std: number): void {
  noGrad(() => {
    for (const [, p] of named) {
      const noise = randn(p.shape, { std });
      p.assign(p.add(noise));
      noise.dispose();
    }
  });
}

const CONFIGS: Record<string, GPTConfig> = {
  gpt2: { family: 'gpt2', vocabSize: 1000, contextLength: 64, nLayers: 2, nHeads: 4, dModel: 64 },
  // grouped-query attention (2 key/value heads for 4 query heads) and RoPE
  llama: {
    family: 'llama',
    vocabSize: 1000,
    contextLength: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    dModel: 64,
  },
};

if (mode === 'export') {
  for (const [name, config] of Object.entries(CONFIGS)) {
    manualSeed(name === 'gpt2' ? 1 : 2);
    const model = new GPT(config);
    perturb(model.namedParameters(), 0.02);
    await saveModel(model, join(dir, `kiln-${name}`));
    await writeLogits(model, `kiln-${name}`);
    if (name === 'gpt2') {
      // a LoRA adapter whose B matrices are not zero, so it changes the logits
      applyLoRA(model, { rank: 4, alpha: 8, targets: ['c_attn', 'c_proj', 'c_fc'], seed: 3 });
      const bs = loraParameters(model).filter(([n]) => n.endsWith('.B'));
      perturb(bs, 0.05);
      await saveAdapter(model, join(dir, 'kiln-gpt2-lora'));
      await writeLogits(model, 'kiln-gpt2-lora');
    }
    model.dispose();
  }
} else {
  for (const name of ['hf-gpt2', 'hf-llama']) {
    const model = await loadModel(join(dir, name));
    await writeLogits(model, name);
    if (name === 'hf-gpt2') {
      await loadAdapter(model, join(dir, 'hf-gpt2-peft'));
      await writeLogits(model, 'hf-gpt2-peft');
    }
    model.dispose();
  }
}
process.exit(0);
