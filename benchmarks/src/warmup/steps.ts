// The first training steps of a fresh process, shared by the Node child (first-steps.ts) and the
// browser page (page.ts): a step is what a training loop that logs every step does (forward with
// the loss, backward, AdamW, zeroGrad, the loss read back), on gpt2-tiny with random tokens.
import { backward } from '@kiln/autograd';
import { init, manualSeed, resolveBackend, tensor } from '@kiln/tensor';
import { AdamW } from '@kiln/trainer';
import { GPT } from '@kiln/transformer';

/** What one process measured. */
export interface FirstStepsRun {
  /** Wall milliseconds of each step (step 1 compiles every pipeline). */
  stepMs: number[];
  /** CPU milliseconds of each step, all threads of the process (Node only; empty in a browser). */
  cpuMs: number[];
  /** Waits that slept first, and sleeps that overshot the device (the executor's diagnostics). */
  sleeps: number;
  oversleeps: number;
  /** The adapter. */
  device: string;
}

type CpuUsage = () => { user: number; system: number };
const cpuUsage = (globalThis as { process?: { cpuUsage?: CpuUsage } }).process?.cpuUsage;
const cpuMsNow = () => {
  const used = cpuUsage?.();
  return used ? (used.user + used.system) / 1000 : Number.NaN;
};

/** Trains `steps` steps of gpt2-tiny on `batch × context` random tokens and times each. */
export async function firstSteps(steps: number, batch: number, context: number): Promise<FirstStepsRun> {
  const info = await init({ backend: 'webgpu' });
  manualSeed(0);
  const config = GPT.config('gpt2-tiny');
  const model = new GPT({ ...config, contextLength: Math.max(context, config.contextLength) });
  const opt = new AdamW(model.namedParameters(), { lr: 1e-3 });
  const vocab = model.config.vocabSize;
  const randomIds = (seed: number) => {
    const ids = new Int32Array(batch * context);
    let x = seed * 2654435761 + 1;
    for (let i = 0; i < ids.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      ids[i] = x % vocab;
    }
    return ids;
  };
  const stepMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const cpu = cpuMsNow();
    const start = performance.now();
    const ids = tensor(randomIds(2 * i), { shape: [batch, context], dtype: 'int32' });
    const targets = tensor(randomIds(2 * i + 1), { shape: [batch, context], dtype: 'int32' });
    const out = model.forward(ids, targets);
    out.logits.dispose();
    const loss = out.loss!;
    backward(loss);
    opt.step();
    opt.zeroGrad();
    await loss.item();
    for (const t of [loss, ids, targets]) t.dispose();
    stepMs.push(performance.now() - start);
    if (cpuUsage) cpuMs.push(cpuMsNow() - cpu);
  }
  // the WebGPU backend's pacing diagnostics (not part of the Backend interface)
  const stats = (resolveBackend() as { stats?(): { sleeps: number; oversleeps: number } }).stats?.();
  return {
    stepMs,
    cpuMs,
    sleeps: stats?.sleeps ?? 0,
    oversleeps: stats?.oversleeps ?? 0,
    device: info.device,
  };
}
