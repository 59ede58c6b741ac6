// The example's settings, by stage: defaults here, overridden section by section and key by
// key by a JSON file (--config). Each stage's section is part of its recorded config, so a
// changed section redoes that stage only.
import { readFile } from 'node:fs/promises';
import type { DPOConfig, GRPOConfig, PPOConfig } from '@kiln/rlhf';
import type { TrainConfigInput } from '@kiln/trainer';

/** Everything the example does. */
export interface RLHFExampleConfig {
  data: {
    /** Training prompts drawn from examples/finetune's train.jsonl (the first ones). */
    trainPrompts: number;
    /** Held-out prompts scored (from held-out.jsonl; 240 there). */
    heldOut: number;
  };
  eval: { maxTokens: number; batchSize: number; samples: number };
  /** Step 1: GRPO with the programmatic reward. */
  grpo: {
    steps: number;
    /** The reward functions by name (`correct`, `close`; see task.ts) and their weights. */
    rewards: Record<string, number>;
  } & Partial<GRPOConfig>;
  /** Step 2: preference pairs, sampled from the SFT model and ranked by the judge. */
  prefs: {
    /** Prompts sampled (each gives at most one pair). */
    prompts: number;
    /** Answers sampled per prompt; the judge's best and worst become the pair. */
    samples: number;
    temperature: number;
    /** Fraction of the pairs held out for the reward model's pair accuracy. */
    heldOutFraction: number;
    seed: number;
  };
  /** The reward model (Bradley–Terry), initialised from the SFT model, through the Trainer. */
  rm: {
    train: TrainConfigInput;
    pairsPerBatch: number;
    /**
     * Whether the reward model reads each answer at its end-of-turn token (as HF's reward
     * models read the last token) or at the answer's last token (false, the default): the SFT
     * model's `<|im_end|>` state is blind to the answer for about a third of the pairs, and
     * training does not open it up (docs/rlhf.md, "The reward model's ties").
     */
    endOfTurn: boolean;
  };
  /** PPO against the reward model, the value model initialised from it. */
  ppo: { steps: number } & Partial<PPOConfig>;
  /** DPO on the same pairs, through the Trainer. */
  dpo: { train: TrainConfigInput; pairsPerBatch: number } & Partial<DPOConfig>;
}

/** The default run (see README.md for what it measures and how long it takes). */
export const DEFAULT_CONFIG: RLHFExampleConfig = {
  data: { trainPrompts: 4000, heldOut: 240 },
  eval: { maxTokens: 8, batchSize: 60, samples: 6 },
  grpo: {
    steps: 60,
    rewards: { correct: 1, close: 0.5 },
    promptsPerStep: 16,
    groupSize: 8,
    maxCompletionTokens: 3,
    temperature: 0.7,
    schedule: { kind: 'constant', lr: 5e-4, warmupSteps: 3 },
    beta: 0.04,
    lossType: 'grpo',
    scaleRewards: 'group',
    // DAPO's dynamic sampling: half the groups of the SFT model agree (every answer right), so
    // sample fresh prompts for them rather than average their zero advantage into the loss
    dynamicSampling: true,
    maxSamplingRounds: 3,
    seed: 1,
  },
  prefs: { prompts: 1200, samples: 4, temperature: 1, heldOutFraction: 0.15, seed: 2 },
  rm: {
    pairsPerBatch: 32,
    endOfTurn: false,
    train: {
      seed: 3,
      steps: 100,
      schedule: { kind: 'cosine', maxLr: 3e-3, minLr: 3e-4, warmupSteps: 10 },
      weightDecay: 0,
      gradClip: 1,
      logInterval: 10,
      evalInterval: 50,
      checkpointInterval: 50,
    },
  },
  ppo: {
    steps: 25,
    promptsPerStep: 32,
    maxCompletionTokens: 3,
    temperature: 1,
    schedule: { kind: 'constant', lr: 5e-4, warmupSteps: 5 },
    valueSchedule: { kind: 'constant', lr: 1e-3 },
    ppoEpochs: 2,
    numMiniBatches: 2,
    klCoef: 0.05,
    seed: 4,
  },
  dpo: {
    beta: 0.1,
    lossType: 'sigmoid',
    pairsPerBatch: 32,
    train: {
      seed: 5,
      steps: 80,
      schedule: { kind: 'cosine', maxLr: 1e-3, minLr: 1e-4, warmupSteps: 10 },
      weightDecay: 0,
      gradClip: 1,
      logInterval: 10,
      evalInterval: 50,
      checkpointInterval: 50,
    },
  },
};

const SECTIONS = Object.keys(DEFAULT_CONFIG) as (keyof RLHFExampleConfig)[];

/** The defaults with a JSON file's sections merged over them. */
export async function loadConfig(path: string | undefined): Promise<RLHFExampleConfig> {
  const config = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, Record<string, unknown>>;
  if (!path) return config as unknown as RLHFExampleConfig;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`--config ${path}: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`--config ${path}: expected a JSON object with sections ${SECTIONS.join(', ')}`);
  }
  for (const [section, values] of Object.entries(json)) {
    if (!(SECTIONS as string[]).includes(section)) {
      throw new Error(
        `--config ${path}: unknown section '${section}'; the sections are ${SECTIONS.join(', ')}`,
      );
    }
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new Error(`--config ${path}: section '${section}' must be an object`);
    }
    for (const [key, value] of Object.entries(values)) {
      // a `train` section (the Trainer's settings) is merged one level deeper
      const merge = key === 'train' && typeof value === 'object' && value !== null;
      config[section][key] = merge ? { ...(config[section][key] as object), ...value } : value;
    }
  }
  return config as unknown as RLHFExampleConfig;
}
