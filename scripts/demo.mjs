#!/usr/bin/env node
// `pnpm demo`: the whole pipeline on the embedded default data (Moby Dick), each stage one of
// the examples run as it runs on its own, each printing its headline number:
//
//   1. tokenizer + pretraining   examples/pretrain  → runs/pretrain   validation loss vs the unigram baseline
//   2. fine-tuning (SFT)         examples/finetune  → runs/finetune   held-out accuracy, base vs SFT
//   3. RLHF                      examples/rlhf      → runs/rlhf       held-out accuracy after GRPO, PPO, DPO
//   4. a sample chat             examples/chat      (the RLHF'd assistant answers three questions)
//
// A finished stage is reused (pretraining when runs/pretrain/summary.json exists; fine-tuning
// and RLHF reuse their own finished stages), an interrupted pretraining resumes from its
// checkpoint. Flags: --fresh (redo everything), --backend cpu|webgpu|auto, --only pretrain
// (the old demo: pretraining alone).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const argv = process.argv.slice(2).filter((a) => a !== '--');
const flag = (name) => argv.includes(name);
const value = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
};
const backend = value('--backend', 'auto');
const only = value('--only', undefined);
const runs = join(root, 'runs');
const start = performance.now();
const minutes = (ms) =>
  `${Math.floor(ms / 60000)}:${String(Math.round((ms % 60000) / 1000)).padStart(2, '0')}`;
const headlines = [];

function run(title, args) {
  console.log(`\n━━ ${title} ━━  pnpm ${args.join(' ')}\n`);
  const t = performance.now();
  const result = spawnSync('pnpm', args, { cwd: root, stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    console.error(
      `\n${title} stopped (${result.signal ?? `exit code ${result.status}`}); run \`pnpm demo\` again to continue from the stages that finished.`,
    );
    process.exit(result.status ?? 1);
  }
  return performance.now() - t;
}
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const pct = (x) => `${(x * 100).toFixed(1)}%`;

if (flag('--fresh'))
  for (const dir of ['pretrain', 'finetune', 'rlhf'])
    rmSync(join(runs, dir), { recursive: true, force: true });

// 1. Tokenizer and pretraining.
const pretrainSummary = join(runs, 'pretrain', 'summary.json');
if (existsSync(pretrainSummary) && !only) {
  console.log(
    `\n━━ 1. tokenizer + pretraining ━━  reusing runs/pretrain (finished before; pnpm demo -- --fresh redoes it)`,
  );
} else {
  const resume =
    existsSync(join(runs, 'pretrain', 'checkpoints')) && !existsSync(pretrainSummary) ? ['--resume'] : [];
  run('1. tokenizer + pretraining', [
    '--filter',
    '@kiln/example-pretrain',
    'start',
    '--',
    '--backend',
    backend,
    ...resume,
  ]);
}
const pre = readJson(pretrainSummary);
headlines.push(
  `pretraining: validation loss ${pre.validation.loss.toFixed(3)} nats/token vs the unigram baseline ${pre.unigramBaseline.toFixed(3)} (${pre.parameters.toLocaleString('en-US')} parameters, ${pre.steps} steps)`,
);
if (only === 'pretrain') {
  console.log(`\n${headlines[0]}`);
  process.exit(0);
}

// 2. Fine-tuning into an assistant.
run('2. fine-tuning (SFT: full and LoRA)', [
  '--filter',
  '@kiln/example-finetune',
  'start',
  '--',
  '--backend',
  backend,
]);
const ft = readJson(join(runs, 'finetune', 'summary.json'));
headlines.push(
  `fine-tuning: held-out accuracy ${pct(ft.base.accuracy)} (base) → ${pct(ft.full.accuracy)} (full SFT), ${pct(ft.lora.accuracy)} (LoRA); commonest-answer baseline ${pct(ft.commonest.accuracy)}`,
);

// 3. RLHF.
run('3. RLHF (GRPO; reward model, PPO, DPO)', [
  '--filter',
  '@kiln/example-rlhf',
  'start',
  '--',
  '--backend',
  backend,
]);
const rl = readJson(join(runs, 'rlhf', 'summary.json'));
headlines.push(
  `RLHF: held-out accuracy ${pct(rl.sft.accuracy)} (SFT) → ${pct(rl.grpo.accuracy)} (GRPO; sampled ${pct(rl.sft.sampledAccuracy)} → ${pct(rl.grpo.sampledAccuracy)}), ${pct(rl.ppo.accuracy)} (PPO), ${pct(rl.dpo.accuracy)} (DPO); reward model pair accuracy ${pct(rl.rewardModel.pairAccuracy)}`,
);

// 4. A sample chat with the RLHF'd assistant.
console.log('\n━━ 4. a sample chat with the GRPO assistant (runs/rlhf/grpo/model) ━━\n');
const model = join(runs, 'rlhf', 'grpo', 'model');
for (const prompt of [
  'Count words: call me ishmael',
  'First letter: the white whale',
  'Last letter: some years ago',
]) {
  const answer = spawnSync(
    'pnpm',
    [
      '--silent',
      '--filter',
      '@kiln/example-chat',
      'start',
      '--',
      '--model',
      model,
      '--prompt',
      prompt,
      '--temperature',
      '0',
      '--max-tokens',
      '8',
    ],
    { cwd: root, encoding: 'utf8', env: process.env },
  );
  console.log(
    `  user: ${prompt}\n  assistant: ${answer.status === 0 ? answer.stdout.trim() : `(chat failed: ${answer.stderr.trim().split('\n').at(-1)})`}\n`,
  );
}

console.log(`━━ the pipeline in ${minutes(performance.now() - start)} ━━`);
for (const line of headlines) console.log(`  ${line}`);
console.log('  chat with it: pnpm --filter @kiln/example-chat start -- --model runs/rlhf/grpo/model');
