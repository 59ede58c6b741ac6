// Reward model directories in Hugging Face format (Node only): `model.safetensors` with the
// backbone's HF names plus `score.weight [1, dModel]`, and a `config.json` for
// `GPT2ForSequenceClassification` / `LlamaForSequenceClassification` with `num_labels: 1`, so
// `AutoModelForSequenceClassification.from_pretrained(dir)` loads it.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Backend, getRngState, setRngState, type Tensor } from '@kiln/tensor';
import { readSafetensorsFile, saveSafetensors, writeFileAtomic } from '@kiln/tensor/node';
import {
  assignHFTensors,
  fromHFConfig,
  GPT,
  type HFBinding,
  hfBindings,
  hfShape,
  hfView,
  ModelFileError,
  toHFConfig,
} from '@kiln/transformer';
import { RewardModel } from './reward-model.js';

/** The HF tensors of a reward model: the backbone's (no `lm_head`) and `score.weight`. */
export function rewardModelBindings(model: RewardModel): HFBinding[] {
  const backbone = hfBindings(model.backbone).filter((b) => b.name !== 'lm_head.weight');
  return [...backbone, { name: 'score.weight', param: model.backbone.head.weight }];
}

/** Options of {@link saveRewardModel}. */
export interface SaveRewardModelOptions {
  /** `pad_token_id` in config.json (HF's sequence classifiers need it for batches). */
  padTokenId?: number;
}

/** Writes `model` to `dir` as a Hugging Face sequence classifier with one label. */
export async function saveRewardModel(
  model: RewardModel,
  dir: string,
  options: SaveRewardModelOptions = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const views: Record<string, Tensor> = {};
  try {
    for (const b of rewardModelBindings(model)) views[b.name] = hfView(b);
    await saveSafetensors(join(dir, 'model.safetensors'), views, { metadata: { format: 'pt' } });
  } finally {
    for (const t of Object.values(views)) t.dispose();
  }
  const c = model.backbone.config;
  const config = {
    ...toHFConfig(c),
    architectures: [c.family === 'gpt2' ? 'GPT2ForSequenceClassification' : 'LlamaForSequenceClassification'],
    num_labels: 1,
    id2label: { 0: 'LABEL_0' },
    label2id: { LABEL_0: 0 },
    ...(options.padTokenId === undefined ? {} : { pad_token_id: options.padTokenId }),
  };
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/** Loads a reward model written by {@link saveRewardModel} (or by HF for the same architectures). */
export async function loadRewardModel(
  dir: string,
  options: { backend?: Backend | string } = {},
): Promise<RewardModel> {
  const configPath = join(dir, 'config.json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (error) {
    throw new ModelFileError(`loadRewardModel: cannot read ${configPath}: ${(error as Error).message}`);
  }
  if (json.num_labels !== undefined && json.num_labels !== 1) {
    throw new ModelFileError(
      `loadRewardModel: ${configPath} has num_labels ${String(json.num_labels)}; a reward model has 1`,
    );
  }
  const config = fromHFConfig(json, configPath);
  const rng = getRngState();
  let model: RewardModel;
  try {
    model = RewardModel.fromCausalLM(new GPT(config, { backend: options.backend }));
  } finally {
    setRngState(rng);
  }
  const parsed = await readSafetensorsFile(join(dir, 'model.safetensors'));
  try {
    const bindings = rewardModelBindings(model);
    const missing = bindings.filter((b) => !parsed.tensors.has(b.name)).map((b) => b.name);
    const wrong = bindings
      .filter(
        (b) => parsed.tensors.has(b.name) && parsed.tensors.get(b.name)!.shape.join() !== hfShape(b).join(),
      )
      .map((b) => `${b.name}: expected [${hfShape(b)}], file has [${parsed.tensors.get(b.name)!.shape}]`);
    if (missing.length > 0 || wrong.length > 0) {
      throw new ModelFileError(
        `loadRewardModel: ${dir} does not hold a reward model of its config: ${[...missing.map((m) => `missing ${m}`), ...wrong].join('; ')}`,
      );
    }
    assignHFTensors(bindings, () => parsed, model.backend);
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
