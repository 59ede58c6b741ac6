// The same run as a config for the PyTorch reference, scripts/reference/gpt.py: model keys
// renamed, the train keys gpt.py knows copied, Kiln-only keys dropped (after checking they do
// not change what is trained).
import { resolveTrainConfig } from '@kiln/trainer';
import type { PretrainConfig } from './config.js';

/** Train keys that scripts/reference/gpt.py understands (its TRAIN_DEFAULTS). */
const PYTORCH_TRAIN_KEYS = [
  'seed',
  'batchSize',
  'steps',
  'gradAccum',
  'schedule',
  'weightDecay',
  'betas',
  'eps',
  'gradClip',
  'validationFraction',
  'evalInterval',
  'evalWindows',
  'evalBatchSize',
  'logInterval',
] as const;

/** `{ model, train }` for gpt.py; throws when the run uses something gpt.py does not implement. */
export function pytorchConfig(config: PretrainConfig, vocabSize: number): { model: object; train: object } {
  const train = resolveTrainConfig(config.train);
  if (train.optimizer !== 'adamw' || !train.decayEmbeddings) {
    throw new Error('gpt.py trains with AdamW and decays every matrix: set train.decayEmbeddings to true');
  }
  const m = config.model;
  if (m.family !== 'gpt2' || (m.dropout ?? 0) !== 0 || m.qkNorm || m.bias === false) {
    throw new Error(
      'gpt.py is compared on the plain GPT-2 family: family gpt2, no dropout, no qkNorm, biases on',
    );
  }
  const model = {
    arch: m.family,
    vocabSize,
    contextLength: m.contextLength,
    nLayer: m.nLayers,
    nHead: m.nHeads,
    dModel: m.dModel,
    ...(m.dFF === undefined ? {} : { dFf: m.dFF }),
    ...(m.normEps === undefined ? {} : { normEps: m.normEps }),
    tieEmbeddings: m.tieEmbeddings ?? true,
  };
  return { model, train: Object.fromEntries(PYTORCH_TRAIN_KEYS.map((k) => [k, train[k]])) };
}
