/**
 * `Trainer`: the pretraining loop (Node only, for its files).
 *
 * One optimizer step:
 *
 * ```text
 * lr ← schedule(step)
 * for each of gradAccum micro-batches: sample windows → forward → backward(loss / gradAccum)
 * norm ← clip gradients to gradClip (or just measure them)
 * optimizer.step(); zero the gradients
 * ```
 *
 * Around it: the loss and gradient norm of every step stay on the device and are read back
 * together every `logInterval` steps (and before each evaluation and checkpoint), where they
 * are checked for NaN/Inf, printed and appended to `metrics.jsonl`. Validation runs at step 0,
 * every `evalInterval` steps and at the end, and redraws `loss.svg`. Checkpoints (model,
 * optimizer, RNG, sampler, counters, config) are saved every `checkpointInterval` steps and at
 * the end; `resume()` restores the latest one, and the continued run is bit-identical to an
 * uninterrupted one on the CPU backend.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '@kiln/tensor';
import { accumulateGradients } from './accumulate.js';
import { CheckpointDir, type CheckpointInfo } from './checkpoint-dir.js';
import { clipGradNorm, gradNorm } from './clip.js';
import type { TokenDataset } from './data/batches.js';
import type { JsonValue } from './data/token-format.js';
import { WindowSampler } from './data/window-sampler.js';
import { type EvalResult, evaluate } from './evaluate.js';
import type { LanguageModel } from './language-model.js';
import { MetricsWriter } from './metrics.js';
import type { MetricsRecord } from './metrics-jsonl.js';
import { describeValue, NonFiniteError } from './non-finite.js';
import { AdamW } from './optim/adamw.js';
import type { Optimizer } from './optim/optimizer.js';
import { defaultParamGroups } from './optim/param-groups.js';
import { SGD } from './optim/sgd.js';
import { writeLossCurveFromMetrics } from './plot-file.js';
import { type ProgressOptions, ProgressReporter } from './progress.js';
import { createSchedule, type LrSchedule } from './schedule.js';
import { firstNonFinite, nonFiniteStepError, StepLog, type StepValues } from './step-log.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './train-config.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from './training-checkpoint.js';

/** File names the trainer writes into its output directory. */
export const TRAINER_OUTPUT_FILES = {
  metrics: 'metrics.jsonl',
  plot: 'loss.svg',
  checkpoints: 'checkpoints',
} as const;

/** Passed to `onStep` after every optimizer step (no values are read back for it). */
export interface StepInfo {
  /** Optimizer steps completed. */
  step: number;
  /** Learning rate the step used. */
  lr: number;
  /** Training tokens processed so far. */
  tokens: number;
}

/** Passed to `onLog` at every logged step, after its values were read back and checked. */
export interface LogInfo extends StepValues {
  /** Training tokens processed so far. */
  tokens: number;
  /** Training throughput since the previous read-back (evaluation and checkpoint time excluded). */
  tokensPerSecond: number;
  /** Wall-clock seconds since the run started (across resumes). */
  elapsedSeconds: number;
}

/** Passed to `onEval` after each validation. */
export interface EvalInfo extends EvalResult {
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens processed so far. */
  tokens: number;
  /** Wall-clock seconds since the run started. */
  elapsedSeconds: number;
}

/** Hooks into the loop; each may be async (the loop waits for it). */
export interface TrainerCallbacks {
  /** After every step. Keep it cheap: it runs in the hot loop. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** At every logged step (`logInterval`, the first and the last). */
  onLog?: (info: LogInfo) => void | Promise<void>;
  /** After each validation. */
  onEval?: (info: EvalInfo) => void | Promise<void>;
  /** After each checkpoint is saved. */
  onCheckpoint?: (info: CheckpointInfo) => void | Promise<void>;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /** The model (e.g. a `GPT`); its parameters' backend is where batches go. */
  model: LanguageModel;
  /** Training and validation windows (build it with the config's `validationFraction`). */
  data: TokenDataset;
  /** Hyperparameters (defaults: {@link TRAIN_DEFAULTS}). */
  config?: TrainConfigInput;
  /** The optimizer (default: AdamW or SGD from the config, over {@link defaultParamGroups}). */
  optimizer?: Optimizer;
  /** Directory for `metrics.jsonl`, `loss.svg` and `checkpoints/`; without it nothing is written. */
  outDir?: string;
  /** More JSON to store in each checkpoint's `run-config.json` beside `train`, e.g. `{ model: gptConfig }`. */
  runConfig?: { [key: string]: JsonValue };
  /** Average bytes of text per token (`bytesPerToken(header)`), to report validation bits per byte. */
  bytesPerToken?: number;
  /** Loop hooks. */
  callbacks?: TrainerCallbacks;
  /** Progress display options (stream, mode, …), or false for silence. */
  progress?: false | Omit<ProgressOptions, 'totalSteps'>;
  /** Abort to stop after the current step; the trainer then saves a checkpoint (with `outDir`) and returns. */
  signal?: AbortSignal;
  /** Title of the loss-curve plot. */
  plotTitle?: string;
}

/** What {@link Trainer.train} returns. */
export interface TrainResult {
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens processed. */
  tokens: number;
  /** Wall-clock seconds of the whole run (across resumes). */
  elapsedSeconds: number;
  /** Training loss of the last logged step. */
  loss?: number;
  /** The last validation result and the step it was measured at. */
  validation?: EvalResult & { step: number };
  /** True when the run was stopped early through `signal`. */
  stopped: boolean;
  /** The last checkpoint saved (with `outDir`). */
  checkpoint?: CheckpointInfo;
}

/**
 * Trains a language model on a token dataset.
 *
 * ```ts
 * const trainer = new Trainer({ model, data, config: { steps: 2000, batchSize: 16 }, outDir: 'runs/a' });
 * await trainer.resume(); // continues from runs/a/checkpoints if there is one
 * const { validation } = await trainer.train();
 * ```
 */
export class Trainer {
  /** The model being trained. */
  readonly model: LanguageModel;
  /** The dataset. */
  readonly data: TokenDataset;
  /** The resolved hyperparameters. */
  readonly config: TrainConfig;
  /** The optimizer. */
  readonly optimizer: Optimizer;
  /** The training-window sampler (seeded with `config.seed`). */
  readonly sampler: WindowSampler;
  /** The learning rate per step. */
  readonly schedule: LrSchedule;
  /** The checkpoint directory (with `outDir`). */
  readonly checkpoints: CheckpointDir | undefined;
  /** The metrics log (with `outDir`). */
  readonly metricsPath: string | undefined;
  /** The loss-curve plot (with `outDir`). */
  readonly plotPath: string | undefined;
  /** Optimizer steps completed. */
  step = 0;
  /** Training tokens processed. */
  tokens = 0;
  readonly #options: TrainerOptions;
  #elapsedBefore = 0;
  #resumed = false;
  #validation: (EvalResult & { step: number }) | undefined;
  #lastLoss: number | undefined;
  #lastCheckpoint: CheckpointInfo | undefined;

  /** Validates the config and builds the default optimizer when none is given. */
  constructor(options: TrainerOptions) {
    const { model, data, outDir } = options;
    if (typeof model?.forward !== 'function' || typeof model.namedParameters !== 'function') {
      throw new TypeError('Trainer: model must be a Module with forward(ids, targets) → { loss }');
    }
    this.config = resolveTrainConfig(options.config);
    const c = this.config;
    if (data.validationWindows < 1) {
      throw new RangeError(
        'Trainer: the dataset has no validation windows; build it with validationFraction > 0',
      );
    }
    this.model = model;
    this.data = data;
    this.optimizer = options.optimizer ?? Trainer.#defaultOptimizer(model, c);
    this.sampler = new WindowSampler(c.seed);
    this.schedule = createSchedule(c.schedule);
    this.checkpoints = outDir
      ? new CheckpointDir(join(outDir, TRAINER_OUTPUT_FILES.checkpoints), { keep: c.keepCheckpoints })
      : undefined;
    this.metricsPath = outDir ? join(outDir, TRAINER_OUTPUT_FILES.metrics) : undefined;
    this.plotPath = outDir ? join(outDir, TRAINER_OUTPUT_FILES.plot) : undefined;
    this.#options = options;
  }

  static #defaultOptimizer(model: LanguageModel, c: TrainConfig): Optimizer {
    const groups = defaultParamGroups(model, {
      weightDecay: c.weightDecay,
      decayEmbeddings: c.decayEmbeddings,
    });
    const lr = 0; // set from the schedule before every step
    return c.optimizer === 'sgd'
      ? new SGD(groups, { lr, momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay })
      : new AdamW(groups, { lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay });
  }

  /** Tokens per optimizer step: `batchSize × gradAccum × contextLength`. */
  get tokensPerStep(): number {
    return this.config.batchSize * this.config.gradAccum * this.data.contextLength;
  }

  /** Wall-clock seconds of training so far, across resumes. */
  get elapsedSeconds(): number {
    return (
      this.#elapsedBefore +
      (this.#sessionStart === undefined ? 0 : (performance.now() - this.#sessionStart) / 1000)
    );
  }

  #sessionStart: number | undefined;

  /**
   * Restores the most recently saved checkpoint in `outDir/checkpoints` (or `checkpoint`):
   * weights, optimizer state, RNG, sampler and counters. Returns it, or undefined when there
   * is none (the run then starts from step 0).
   */
  async resume(checkpoint?: CheckpointInfo): Promise<CheckpointInfo | undefined> {
    if (!this.checkpoints) throw new Error('Trainer.resume: there is no checkpoint directory; pass outDir');
    const info = checkpoint ?? (await this.checkpoints.latest());
    if (!info) return undefined;
    const { state, config } = await loadTrainingCheckpoint(this.checkpoints, info, this);
    this.#warnOnConfigChange(config, info);
    this.step = state.step;
    this.tokens = state.tokens;
    this.#elapsedBefore = state.elapsedSeconds;
    this.#resumed = true;
    this.#lastCheckpoint = info;
    return info;
  }

  /** Runs from the current step to `config.steps` (see the file comment); returns the final state. */
  async train(): Promise<TrainResult> {
    const c = this.config;
    const { callbacks = {}, signal } = this.#options;
    const run = await this.#openRun();
    let stopped = false;
    try {
      this.model.train();
      if (this.step === 0 && !this.#resumed) await this.#validate(run);
      startInterval(run, this.tokens);
      while (this.step < c.steps) {
        if (signal?.aborted) {
          stopped = true;
          break;
        }
        const lr = this.schedule(this.step);
        const { loss, norm } = this.#optimizerStep(lr);
        this.step++;
        this.tokens += this.tokensPerStep;
        run.stepLog.push(this.step, lr, loss, norm);
        await callbacks.onStep?.({ step: this.step, lr, tokens: this.tokens });
        // A redrawn bar moves every step (showing the last loss read back); lines wait for log steps.
        if (run.progress?.mode === 'bar') {
          run.progress.update({ step: this.step, tokens: this.tokens, lr, loss: this.#lastLoss });
        }
        const last = this.step === c.steps;
        const evalDue = last || this.step % c.evalInterval === 0;
        const checkpointDue =
          this.checkpoints !== undefined &&
          (last || (c.checkpointInterval > 0 && this.step % c.checkpointInterval === 0));
        if (this.#isLogStep(this.step) || evalDue || checkpointDue) await this.#readBack(run);
        if (evalDue) await this.#validate(run);
        if (checkpointDue) await this.#checkpoint(run);
        // Throughput is training throughput: evaluation and checkpoint time are left out.
        if (evalDue || checkpointDue) startInterval(run, this.tokens);
      }
      if (stopped) {
        await this.#readBack(run);
        if (this.checkpoints && this.#lastCheckpoint?.step !== this.step) await this.#checkpoint(run);
        run.progress?.log(`stopped at step ${this.step}`);
      }
    } finally {
      run.stepLog.dispose();
      run.progress?.finish();
      this.#elapsedBefore = this.elapsedSeconds;
      this.#sessionStart = undefined;
      await run.metrics?.close();
    }
    return {
      step: this.step,
      tokens: this.tokens,
      elapsedSeconds: this.#elapsedBefore,
      loss: this.#lastLoss,
      validation: this.#validation,
      stopped,
      checkpoint: this.#lastCheckpoint,
    };
  }

  /** Validation loss, perplexity and bits per byte of the current model (no metrics written). */
  evaluate(): Promise<EvalResult> {
    const c = this.config;
    return evaluate(this.model, this.data, {
      batchSize: c.evalBatchSize,
      maxWindows: c.evalWindows,
      bytesPerToken: this.#options.bytesPerToken,
    });
  }

  /** Saves a checkpoint of the current state now (needs `outDir`). */
  async saveCheckpoint(): Promise<CheckpointInfo> {
    if (!this.checkpoints)
      throw new Error('Trainer.saveCheckpoint: there is no checkpoint directory; pass outDir');
    const info = await saveTrainingCheckpoint(
      this.checkpoints,
      this,
      {
        step: this.step,
        tokens: this.tokens,
        elapsedSeconds: this.elapsedSeconds,
        valLoss: this.#validation?.loss,
      },
      { train: this.config as unknown as JsonValue, ...this.#options.runConfig },
    );
    this.#lastCheckpoint = info;
    return info;
  }

  /** Opens the metrics log and the progress display for one `train()` call. */
  async #openRun(): Promise<RunOutputs> {
    const c = this.config;
    const { outDir, progress } = this.#options;
    if (outDir) await mkdir(outDir, { recursive: true });
    // A fresh run replaces an old log; a resumed one keeps the records up to its checkpoint.
    if (this.metricsPath && !this.#resumed) await rm(this.metricsPath, { force: true });
    const metrics = this.metricsPath
      ? await MetricsWriter.open(this.metricsPath, { truncateAfterStep: this.step })
      : undefined;
    this.#sessionStart = performance.now();
    return {
      metrics,
      // Values are only known at log steps, so in line mode a line is printed at each of them.
      progress:
        progress === false
          ? undefined
          : new ProgressReporter({ totalSteps: c.steps, lineEvery: c.logInterval, ...progress }),
      stepLog: new StepLog(),
      interval: { time: performance.now(), tokens: this.tokens },
    };
  }

  /**
   * Reads back the pending steps (one transfer), logs the log steps among them (metrics,
   * progress, `onLog`) and throws a {@link NonFiniteError} at the first non-finite one, after
   * logging the good steps before it.
   */
  async #readBack(run: RunOutputs): Promise<void> {
    const values = await run.stepLog.read();
    const seconds = Math.max(performance.now() - run.interval.time, 1e-6) / 1000;
    const tokensPerSecond = (this.tokens - run.interval.tokens) / seconds;
    startInterval(run, this.tokens);
    const bad = firstNonFinite(values);
    for (const v of bad === -1 ? values : values.slice(0, bad)) {
      this.#lastLoss = v.loss;
      if (!this.#isLogStep(v.step)) continue;
      const tokens = v.step * this.tokensPerStep;
      const elapsedSeconds = this.elapsedSeconds;
      await run.metrics?.write({
        step: v.step,
        loss: v.loss,
        lr: v.lr,
        gradNorm: v.gradNorm,
        tokens,
        tokensPerSecond: Math.round(tokensPerSecond),
        elapsedSeconds: round(elapsedSeconds),
      });
      run.progress?.update({
        step: v.step,
        tokens,
        lr: v.lr,
        loss: v.loss,
        fields: { 'grad norm': v.gradNorm },
      });
      await this.#options.callbacks?.onLog?.({ ...v, tokens, tokensPerSecond, elapsedSeconds });
    }
    if (bad !== -1) throw nonFiniteStepError(values[bad], this.#lastGoodHint());
  }

  /** One optimizer step at learning rate `lr`; returns the step's loss and gradient norm as device tensors. */
  #optimizerStep(lr: number): { loss: Tensor; norm: Tensor } {
    const c = this.config;
    this.model.zeroGrad();
    const loss = accumulateGradients(this.model, c.gradAccum, () =>
      this.data.sampleTrainBatch(c.batchSize, this.sampler),
    );
    try {
      const params = this.optimizer.namedParameters().map(([, p]) => p);
      const norm = c.gradClip > 0 ? clipGradNorm(params, c.gradClip) : gradNorm(params);
      this.optimizer.lr = lr;
      this.optimizer.step();
      this.model.zeroGrad(); // gradients are not needed until the next step: free them now
      return { loss, norm };
    } catch (error) {
      loss.dispose();
      throw error;
    }
  }

  /** Steps that get a metrics record: the first, every `logInterval`-th and the last. */
  #isLogStep(step: number): boolean {
    return step === 1 || step % this.config.logInterval === 0 || step === this.config.steps;
  }

  async #validate(run: RunOutputs): Promise<void> {
    const result = await this.evaluate();
    if (!Number.isFinite(result.loss)) {
      throw new NonFiniteError(
        `training stopped at step ${this.step}: the validation loss is ${describeValue(result.loss)}. ${this.#lastGoodHint()}`,
        this.step,
        ['valLoss'],
      );
    }
    this.#validation = { ...result, step: this.step };
    const elapsedSeconds = this.elapsedSeconds;
    const record: MetricsRecord = { step: this.step, valLoss: result.loss, valPerplexity: result.perplexity };
    if (result.bitsPerByte !== undefined) record.valBitsPerByte = result.bitsPerByte;
    Object.assign(record, { tokens: this.tokens, elapsedSeconds: round(elapsedSeconds) });
    await run.metrics?.write(record);
    const bpb = result.bitsPerByte === undefined ? '' : ` | ${result.bitsPerByte.toFixed(4)} bits/byte`;
    run.progress?.log(
      `step ${this.step} | val loss ${result.loss.toFixed(4)} | perplexity ${result.perplexity.toFixed(2)}${bpb}`,
    );
    if (this.metricsPath && this.plotPath) {
      await writeLossCurveFromMetrics(this.metricsPath, {
        svgPath: this.plotPath,
        title: this.#options.plotTitle ?? 'Loss',
        xLabel: 'step',
        yLabel: 'loss (nats/token)',
      });
    }
    await this.#options.callbacks?.onEval?.({
      ...result,
      step: this.step,
      tokens: this.tokens,
      elapsedSeconds,
    });
  }

  async #checkpoint(run: RunOutputs): Promise<void> {
    const info = await this.saveCheckpoint();
    run.progress?.log(`step ${this.step} | saved checkpoint ${info.path}`);
    await this.#options.callbacks?.onCheckpoint?.(info);
  }

  #lastGoodHint(): string {
    const last = this.#lastCheckpoint;
    return last
      ? `The last good checkpoint is step ${last.step} (${last.path}); resume from it with a lower learning rate or gradient clipping.`
      : 'No checkpoint was saved before it; lower the learning rate or enable gradient clipping and start again.';
  }

  #warnOnConfigChange(saved: JsonValue, info: CheckpointInfo): void {
    const train = (saved as { train?: Record<string, JsonValue> } | null)?.train;
    if (!train) return;
    const changed = (['seed', 'batchSize', 'gradAccum', 'optimizer'] as const).filter(
      (k) => JSON.stringify(train[k]) !== JSON.stringify(this.config[k]),
    );
    if (changed.length > 0) {
      console.warn(
        `[kiln] resuming ${info.path} with a different ${changed.join(', ')} than it was trained with; the run will not match an uninterrupted one`,
      );
    }
  }
}

/** What one `train()` call writes to, and the start of the current throughput interval. */
interface RunOutputs {
  metrics: MetricsWriter | undefined;
  progress: ProgressReporter | undefined;
  stepLog: StepLog;
  interval: { time: number; tokens: number };
}

function startInterval(run: RunOutputs, tokens: number): void {
  run.interval = { time: performance.now(), tokens };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
