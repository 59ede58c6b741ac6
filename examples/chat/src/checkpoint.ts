// Where the model and its tokenizer are: the --model directory, or the newest stage of the
// examples' pipeline that has been run (fine-tuned first, then the pretrained base model).
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MODEL_FILES } from '@kiln/transformer/node';

/**
 * Default model directories, best first, relative to the repository root: what
 * examples/finetune and examples/pretrain write.
 */
export const DEFAULT_MODELS = ['runs/finetune/full/model', 'runs/pretrain/model'] as const;

/** The tokenizer file name of a Hugging Face model directory (Kiln's examples use it too). */
export const TOKENIZER_FILE = 'tokenizer.json';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** A model directory holds config.json and model.safetensors (or a sharded index). */
async function isModelDir(dir: string): Promise<boolean> {
  return (
    (await exists(join(dir, MODEL_FILES.config))) &&
    ((await exists(join(dir, MODEL_FILES.weights))) || (await exists(join(dir, MODEL_FILES.shardIndex))))
  );
}

/** The model directory and tokenizer file to load. */
export interface Checkpoint {
  modelDir: string;
  tokenizerPath: string;
}

/** Where to look: paths given on the command line are relative to `cwd`, the defaults to `root`. */
export interface CheckpointQuery {
  /** The directory the command was started in. */
  cwd: string;
  /** The repository root, where the examples write runs/. */
  root: string;
  /** --model */
  model?: string;
  /** --tokenizer */
  tokenizer?: string;
}

/**
 * Finds the model directory (`model`, else the first of {@link DEFAULT_MODELS} under `root`
 * that exists) and its tokenizer (`tokenizer`, else tokenizer.json in the model directory —
 * Hugging Face's layout — or in its parent — the layout of Kiln's examples, where one run
 * directory holds the tokenizer beside model/). Throws a message that says how to make or name
 * what is missing.
 */
export async function findCheckpoint(query: CheckpointQuery): Promise<Checkpoint> {
  const { cwd, root, model, tokenizer } = query;
  let modelDir: string | undefined;
  if (model !== undefined) {
    modelDir = resolve(cwd, model);
    if (!(await isModelDir(modelDir))) {
      throw new Error(
        `--model ${model}: ${modelDir} is not a model directory (it needs ${MODEL_FILES.config} and ${MODEL_FILES.weights}, as saveModel or Hugging Face's save_pretrained write them)`,
      );
    }
  } else {
    for (const candidate of DEFAULT_MODELS) {
      if (await isModelDir(join(root, candidate))) {
        modelDir = join(root, candidate);
        break;
      }
    }
    if (!modelDir) {
      throw new Error(
        `no model to chat with: none of ${DEFAULT_MODELS.join(', ')} exists under ${root}.\n` +
          'Make one with `pnpm demo` (the whole pipeline; `pnpm demo -- --only pretrain` for a base model that continues text, about a minute)\n' +
          'or run examples/finetune (an assistant, in runs/finetune), or pass --model <dir> with any\n' +
          'Kiln or Hugging Face GPT-2/Llama model directory.',
      );
    }
  }
  let tokenizerPath: string | undefined;
  if (tokenizer !== undefined) {
    tokenizerPath = resolve(cwd, tokenizer);
    if (!(await exists(tokenizerPath)))
      throw new Error(`--tokenizer ${tokenizer}: ${tokenizerPath} does not exist`);
  } else {
    for (const dir of [modelDir, dirname(modelDir)]) {
      if (await exists(join(dir, TOKENIZER_FILE))) {
        tokenizerPath = join(dir, TOKENIZER_FILE);
        break;
      }
    }
    if (!tokenizerPath) {
      throw new Error(
        `no ${TOKENIZER_FILE} in ${modelDir} or its parent directory; pass --tokenizer <file> (a Hugging Face tokenizer.json)`,
      );
    }
  }
  return { modelDir, tokenizerPath };
}
