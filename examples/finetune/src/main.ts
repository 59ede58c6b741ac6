// Fine-tuning, end to end: from the base that examples/pretrain writes, build conversations
// from the book, evaluate the base, fine-tune it fully and with LoRA through @kiln/trainer's
// Trainer, and compare the three on held-out prompts.
//
//   pnpm --filter @kiln/example-finetune start                       (after `pnpm demo`)
//   pnpm --filter @kiln/example-finetune start -- --pretrain         (make the base first if missing)
//   pnpm --filter @kiln/example-finetune start -- --steps 100 --backend cpu --out runs/ft-quick
import { resolve } from 'node:path';
import { init } from '@kiln/tensor';
import { formatDuration } from '@kiln/trainer';
import { parseFlags, USAGE } from './args.js';
import { basePaths, checkBase, runPretrain } from './base.js';
import { loadConfig, withSteps } from './config.js';
import { loadMobyDick } from './corpus.js';
import { printSummary } from './report.js';
import { runFinetune } from './run.js';

const log = (line = '') => console.log(line);

async function main(): Promise<void> {
  const args = parseFlags(process.argv.slice(2));
  if (args === 'help') {
    log(USAGE);
    return;
  }
  const start = performance.now();
  // pnpm runs scripts inside the package; paths on the command line are meant from where pnpm was started.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const base = basePaths(resolve(cwd, args.base));
  const outDir = resolve(cwd, args.out);
  let config = await loadConfig(args.config && resolve(cwd, args.config));
  if (args.steps !== undefined) config = withSteps(config, args.steps);

  const problem = await checkBase(base, cwd);
  if (problem && !args.pretrain) throw new Error(problem);
  if (problem) {
    log(`${problem}\n--pretrain: running examples/pretrain into ${base.dir} first\n`);
    await runPretrain(base.dir, args.backend);
    log();
  }

  const backend = await init({ backend: args.backend });
  log(`backend: ${backend.name} (${backend.device})`);

  // Ctrl-C stops after the current step with a checkpoint; a second Ctrl-C exits at once.
  const stop = new AbortController();
  process.once('SIGINT', () => {
    log('\nstopping after this step (Ctrl-C again to quit now)…');
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });

  const { text } = await loadMobyDick();
  const summary = await runFinetune({
    config,
    base,
    outDir,
    text,
    fresh: args.fresh,
    log,
    signal: stop.signal,
  });
  printSummary(summary, log);
  log();
  log(`done in ${formatDuration(performance.now() - start)}; wrote ${outDir}/`);
  for (const [name, what] of [
    ['data/', 'train.jsonl and held-out.jsonl: the conversations ({"messages": [...]} per line)'],
    ['base/', "the base model's held-out answers and scores"],
    [
      'full/',
      'full fine-tuning: metrics.jsonl, loss.svg, checkpoints/, model/ (Hugging Face format + tokenizer.json)',
    ],
    ['lora/', "LoRA: metrics.jsonl, loss.svg, checkpoints/, adapter/ (peft's format)"],
    ['summary.json', 'the headline numbers side by side'],
  ]) {
    log(`  ${name.padEnd(14)} ${what}`);
  }
}

main().catch((error: unknown) => {
  // Errors carry messages written for people; the stack only helps when debugging Kiln itself.
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\n${process.env.KILN_DEBUG && error instanceof Error ? error.stack : message}`);
  process.exit(1);
});
