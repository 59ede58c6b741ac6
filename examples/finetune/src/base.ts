// The base model: what examples/pretrain leaves in its output directory (model/ in Hugging Face
// format and tokenizer.json), checked before anything else runs, and made on request.
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@kiln/tokenizer';
import { MODEL_FILES } from '@kiln/transformer/node';

/** The chat template's special tokens, which the base's tokenizer must reserve. */
export const CHAT_TOKENS = ['<|im_start|>', '<|im_end|>'] as const;

/** Where a base lives inside a pretraining output directory. */
export interface BasePaths {
  /** The output directory of examples/pretrain. */
  dir: string;
  /** Its Hugging Face model directory. */
  modelDir: string;
  /** Its tokenizer. */
  tokenizerPath: string;
}

/** The paths of the base in `dir`. */
export function basePaths(dir: string): BasePaths {
  return { dir, modelDir: join(dir, 'model'), tokenizerPath: join(dir, 'tokenizer.json') };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The command that makes the base in `dir`, run from `cwd`, for messages. */
export function pretrainCommand(dir: string, cwd: string): string {
  const out = relative(cwd, dir) || '.';
  return out === 'runs/pretrain'
    ? 'pnpm demo -- --only pretrain'
    : `pnpm --filter @kiln/example-pretrain start -- --out ${JSON.stringify(resolve(dir))}`;
}

/**
 * What is wrong with the base in `dir`, as a message that says how to fix it, or undefined when
 * it is complete: the model directory's files, the tokenizer, and the tokenizer's chat tokens
 * (a base pretrained before examples/pretrain reserved them cannot use the ChatML template).
 */
export async function checkBase(paths: BasePaths, cwd = process.cwd()): Promise<string | undefined> {
  const make = `Make it with \`${pretrainCommand(paths.dir, cwd)}\` (1–3 minutes), or run this example with --pretrain to do that first.`;
  const missing: string[] = [];
  for (const file of [MODEL_FILES.config, MODEL_FILES.weights]) {
    if (!(await exists(join(paths.modelDir, file)))) missing.push(join(paths.modelDir, file));
  }
  if (!(await exists(paths.tokenizerPath))) missing.push(paths.tokenizerPath);
  if (missing.length > 0) {
    return `There is no base model in ${paths.dir} (missing ${missing.join(', ')}). ${make}`;
  }
  const tokenizer = await Tokenizer.load(paths.tokenizerPath);
  const absent = CHAT_TOKENS.filter(
    (t) => tokenizer.tokenToId(t) === undefined || !tokenizer.isSpecialId(tokenizer.tokenToId(t)!),
  );
  if (absent.length > 0) {
    return (
      `The base tokenizer ${paths.tokenizerPath} has no special tokens ${absent.join(', ')}, which the ChatML template needs ` +
      `(it was made before examples/pretrain reserved them). Pretrain again: ${make.replace('Make it with', 'run')}`
    );
  }
  return undefined;
}

/** Runs examples/pretrain with its default config into `dir`, on `backend`, streaming its output. */
export async function runPretrain(dir: string, backend: string): Promise<void> {
  const example = resolve(dirname(fileURLToPath(import.meta.url)), '../../pretrain');
  const args = [
    '--filter',
    '@kiln/example-pretrain',
    'start',
    '--',
    '--out',
    resolve(dir),
    '--backend',
    backend,
  ];
  await new Promise<void>((done, fail) => {
    const child = spawn('pnpm', args, { cwd: example, stdio: 'inherit', env: process.env });
    child.on('error', (error) =>
      fail(new Error(`--pretrain: could not start \`pnpm ${args.join(' ')}\`: ${error.message}`)),
    );
    child.on('exit', (code, signal) => {
      if (code === 0) done();
      else
        fail(
          new Error(
            `--pretrain: examples/pretrain stopped (${signal ?? `exit code ${code}`}); see its output above`,
          ),
        );
    });
  });
}
