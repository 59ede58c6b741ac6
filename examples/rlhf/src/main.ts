// RLHF, end to end, from examples/finetune's assistant:
//   1. GRPO with a programmatic reward (is the answer right?)
//   2. preference pairs ranked by a judge → a reward model → PPO against it, and DPO on the pairs
// and every model compared on the held-out prompts. Writes runs/rlhf/summary.json.
//
//   pnpm --filter @kiln/example-rlhf start                 (after examples/finetune)
import { access, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { init } from '@kiln/tensor';
import { writeFileAtomic } from '@kiln/tensor/node';
import { Tokenizer } from '@kiln/tokenizer';
import { formatDuration } from '@kiln/trainer';
import { loadModel } from '@kiln/transformer/node';
import { parseFlags, USAGE } from './args.js';
import { type Assessment, assess, describeAssessment } from './assess.js';
import { loadConfig } from './config.js';
import { runGRPOStage } from './grpo-stage.js';
import { runPreferenceStages } from './preference-stages.js';
import { finishStage, openStage } from './stage.js';
import { readPrompts } from './task.js';

const log = (line = '') => console.log(line);

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<void> {
  const args = parseFlags(process.argv.slice(2));
  if (args === 'help') {
    log(USAGE);
    return;
  }
  const start = performance.now();
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const finetune = resolve(cwd, args.finetune);
  const outDir = resolve(cwd, args.out);
  const config = await loadConfig(args.config && resolve(cwd, args.config));
  const sftDir = join(finetune, 'full', 'model');
  const files = [
    join(sftDir, 'config.json'),
    join(sftDir, 'tokenizer.json'),
    join(finetune, 'data', 'train.jsonl'),
  ];
  const missing = [];
  for (const f of files) if (!(await exists(f))) missing.push(f);
  if (missing.length > 0) {
    throw new Error(
      `There is no fine-tuned assistant in ${finetune} (missing ${missing.join(', ')}). Make it with \`pnpm demo\` (the whole pipeline), or \`pnpm --filter @kiln/example-finetune start -- --pretrain\` (a few minutes), then run this again.`,
    );
  }
  if (args.fresh) await rm(outDir, { recursive: true, force: true });
  const backend = await init({ backend: args.backend });
  log(`backend: ${backend.name} (${backend.device})`);

  const tokenizer = await Tokenizer.load(join(sftDir, 'tokenizer.json'));
  const train = await readPrompts(join(finetune, 'data', 'train.jsonl'), tokenizer, config.data.trainPrompts);
  const heldOut = await readPrompts(join(finetune, 'data', 'held-out.jsonl'), tokenizer, config.data.heldOut);
  const { mtimeMs } = await import('node:fs/promises').then((fs) =>
    fs.stat(join(sftDir, 'model.safetensors')),
  );
  const sftId = { dir: sftDir, modified: mtimeMs };
  log(`SFT model: ${sftDir}; ${train.length} training prompts, ${heldOut.length} held out`);

  // The SFT model's held-out scores: the "before" of every method.
  const sftStage = join(outDir, 'sft');
  let sft = await openStage<Assessment>(sftStage, {
    sft: sftId,
    data: config.data,
    eval: config.eval,
    temperature: config.grpo.temperature,
  });
  if (!sft) {
    const model = await loadModel(sftDir);
    // sampled as GRPO samples its rollouts, to compare with GRPO's sampled accuracy
    const sampled = { temperature: config.grpo.temperature ?? 1, samples: 4 };
    sft = await assess(model, tokenizer, heldOut, { ...config.eval, sampled });
    model.dispose();
    await finishStage(sftStage, sft);
  }
  log(`sft: ${describeAssessment(sft)}\n`);

  const common = { config, sftDir, sftId, tokenizer, train, heldOut, log };
  const grpo = await runGRPOStage({ ...common, dir: join(outDir, 'grpo') });
  log();
  const prefs = await runPreferenceStages({ ...common, outDir });

  const samples = heldOut.slice(0, config.eval.samples).map((p, i) => ({
    prompt: p.text,
    reference: p.example.answer,
    sft: sft.outputs[i],
    grpo: grpo.result.outputs[i],
    ppo: prefs.ppo.outputs[i],
    dpo: prefs.dpo.outputs[i],
  }));
  const strip = <T extends Assessment>(a: T): Omit<T, 'outputs'> => {
    const { outputs: _, ...rest } = a;
    return rest;
  };
  const sftScores = await prefs.scoreOutputs(sft.outputs);
  const grpoScores = await prefs.scoreOutputs(grpo.result.outputs);
  const summary = {
    backend: backend.name,
    sft: { ...strip(sft), ...sftScores },
    grpo: { ...strip(grpo.result), ...grpoScores },
    rewardModel: prefs.rewardModel,
    ppo: strip(prefs.ppo),
    dpo: strip(prefs.dpo),
    samples,
    seconds: (performance.now() - start) / 1000,
  };
  await writeFileAtomic(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

  log('\nheld-out (greedy answers): exact-answer accuracy, mean reward-model score, mean judge score');
  for (const [name, a] of [
    ['SFT', summary.sft],
    ['GRPO', summary.grpo],
    ['PPO', summary.ppo],
    ['DPO', summary.dpo],
  ] as const) {
    log(
      `  ${name.padEnd(5)} ${describeAssessment(a)} | reward model ${a.rewardModelScore.toFixed(3)} | judge ${a.judgeScore.toFixed(3)}`,
    );
  }
  log(`reward model: held-out pair accuracy ${(prefs.rewardModel.pairAccuracy * 100).toFixed(1)}%`);
  log('\nsamples (prompt → reference | SFT | GRPO | PPO | DPO):');
  for (const s of samples) {
    log(`  ${s.prompt} → ${s.reference} | ${s.sft} | ${s.grpo} | ${s.ppo} | ${s.dpo}`);
  }
  log(
    `\ndone in ${formatDuration(performance.now() - start)}; wrote ${outDir}/ (summary.json, grpo/, rm/, ppo/, dpo/)`,
  );
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\n${process.env.KILN_DEBUG && error instanceof Error ? error.stack : message}`);
  process.exit(1);
});
