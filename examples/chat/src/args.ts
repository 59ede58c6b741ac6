// Command-line flags of the chat app.
import { parseArgs } from 'node:util';

/** The chat layouts the app knows; `auto` picks one from the tokenizer's special tokens. */
export const TEMPLATE_NAMES = ['auto', 'chatml', 'llama3', 'none'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** The parsed flags. */
export interface ChatArgs {
  /** Model directory (Kiln or Hugging Face); undefined: the default checkpoint. */
  model?: string;
  /** tokenizer.json; undefined: looked up next to the model. */
  tokenizer?: string;
  /** LoRA adapter directory (peft format), applied on top of the model. */
  adapter?: string;
  template: TemplateName;
  system?: string;
  /** One non-interactive answer to this message, printed to stdout. */
  prompt?: string;
  temperature: number;
  topK?: number;
  topP: number;
  seed?: number;
  maxTokens: number;
  backend: 'cpu' | 'webgpu' | 'auto';
}

export const USAGE = `Chat with a Kiln or Hugging Face GPT-2/Llama checkpoint in the terminal.

usage: pnpm --filter @kiln/example-chat start -- [flags]

  --model <dir>        model directory: model.safetensors + config.json (default: the
                       fine-tuned model in runs/finetune, else the base model in runs/pretrain)
  --tokenizer <file>   tokenizer.json (default: the one in the model directory or its parent)
  --adapter <dir>      a LoRA adapter directory (peft format) to apply to the model
  --template <name>    auto (default), chatml, llama3, or none (plain text continuation,
                       for base models); auto picks Llama 3 or ChatML from the tokenizer's
                       special tokens, and none when it has neither
  --system <text>      system prompt
  --prompt <text>      answer this one message, print the answer to stdout and exit
  --temperature <t>    sampling temperature, 0 = greedy (default 0.8)
  --top-k <k>          sample among the k most likely tokens (default: all)
  --top-p <p>          nucleus sampling: the most likely tokens up to probability p (default 0.95)
  --seed <n>           seed the sampler (default: a random seed, printed)
  --max-tokens <n>     most tokens per answer (default 256)
  --backend <name>     cpu, webgpu or auto (default cpu; KILN_BACKEND overrides)
  --help               this text

In the chat: /reset starts a new conversation, /exit (or Ctrl-D) quits, Ctrl-C stops an answer.`;

function numberFlag(name: string, raw: string | undefined, check: (n: number) => boolean, want: string) {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !check(n)) throw new Error(`--${name} must be ${want}, got '${raw}'`);
  return n;
}

/** Parses `argv` (without node and the script); throws with the usage text on a bad flag. */
export function parseFlags(argv: readonly string[]): ChatArgs | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'), // pnpm passes a lone `--` through
      options: {
        model: { type: 'string' },
        tokenizer: { type: 'string' },
        adapter: { type: 'string' },
        template: { type: 'string', default: 'auto' },
        system: { type: 'string' },
        prompt: { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        seed: { type: 'string' },
        'max-tokens': { type: 'string' },
        backend: { type: 'string', default: 'cpu' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return 'help';
  const str = (name: string) => values[name] as string | undefined;
  const template = str('template') as TemplateName;
  if (!TEMPLATE_NAMES.includes(template)) {
    throw new Error(`--template must be one of ${TEMPLATE_NAMES.join(', ')}, got '${template}'`);
  }
  const backend = str('backend');
  if (backend !== 'cpu' && backend !== 'webgpu' && backend !== 'auto') {
    throw new Error(`--backend must be cpu, webgpu or auto, got '${backend}'`);
  }
  const nonNegativeInt = (n: number) => Number.isSafeInteger(n) && n >= 0;
  const positiveInt = (n: number) => Number.isSafeInteger(n) && n >= 1;
  return {
    model: str('model'),
    tokenizer: str('tokenizer'),
    adapter: str('adapter'),
    template,
    system: str('system'),
    prompt: str('prompt'),
    temperature:
      numberFlag('temperature', str('temperature'), (n) => Number.isFinite(n) && n >= 0, 'a number ≥ 0') ??
      0.8,
    topK: numberFlag('top-k', str('top-k'), positiveInt, 'a positive integer'),
    topP: numberFlag('top-p', str('top-p'), (n) => n > 0 && n <= 1, 'a number in (0, 1]') ?? 0.95,
    seed: numberFlag('seed', str('seed'), nonNegativeInt, 'a non-negative integer'),
    maxTokens: numberFlag('max-tokens', str('max-tokens'), positiveInt, 'a positive integer') ?? 256,
    backend,
  };
}
