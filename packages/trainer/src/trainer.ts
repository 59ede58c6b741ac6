/**
 * `Trainer`: the training loop, for any objective over any batch source. It touches no files
 * (it runs in browsers); its metrics log, loss plot and checkpoints go to a
 * {@link TrainerStorage}, which `@kiln/trainer/node`'s `Trainer` makes from an `outDir`.
 *
 * One optimizer step ({@link trainStep}):
 *
 * ```text
 * lr ← schedule(step)
 * for each of gradAccum micro-batches: data.next() → objective → backward (weighted)
 * norm ← clip gradients to gradClip (or just measure them)
 * optimizer.step(); zero the gradients
 * ```
 *
 * Around it: the loss, weight, gradient norm and metrics of every step stay on the device and
 * are read back together every `logInterval` steps (and before each evaluation and
 * checkpoint), where they are checked for NaN/Inf (and a weight of 0), printed and appended to
 * the metrics log. Validation runs at step 0, every `evalInterval` steps and at the end, and
 * redraws the loss plot. Checkpoints (model, optimizer, RNG, the source's state, counters,
 * config) are saved every `checkpointInterval` steps and at the end; `resume()` restores the
 * latest one, and the continued run is bit-identical to an uninterrupted one on the CPU backend.
 *
 * Logged values are those of the logged step itself (not averages over the interval): the
 * loss, `lr`, `gradNorm`, the objective's metrics under their own names, and the source's
 * `epoch` when it has one. Validation metrics are logged as `val` + the capitalised name.
 */
import type { Module } from '@kiln/autograd';
import type { Tensor } from '@kiln/tensor';
import {
  type BatchInput,
  type BatchSource,
  batchTokens,
  disposeBatch,
  tokenBatchInput,
} from './data/batch.js';
import { parseWindowSamplerState, TokenDataset } from './data/batches.js';
import type { JsonValue } from './data/token-format.js';
import { WindowSampler } from './data/window-sampler.js';
import { DeviceLossScaler } from './device-loss-scaler.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { Float16Weights, requireFloat16 } from './float16-weights.js';
import { type LanguageModel, modelBackend } from './language-model.js';
import type { MetricsRecord } from './metrics-jsonl.js';
import { trainStepMixed } from './mixed-step.js';
import { describeValue, NonFiniteError } from './non-finite.js';
import { languageModelObjective, type Objective } from './objective.js';
import { AdamW } from './optim/adamw.js';
import type { Optimizer } from './optim/optimizer.js';
import { defaultParamGroups } from './optim/param-groups.js';
import { SGD } from './optim/sgd.js';
import { type ProgressOptions, ProgressReporter } from './progress.js';
import { chooseResumePoint, describeRefused, ResumeError, type ResumeOptions } from './resume.js';
import { createSchedule, type LrSchedule } from './schedule.js';
import { firstNonFinite, nonFiniteStepError, StepLog, type StepValues } from './step-log.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './train-config.js';
import { trainStep } from './train-step.js';
import type { CheckpointInfo, MetricsLog, TrainerStorage } from './trainer-storage.js';
import type { TrainingParts } from './training-state.js';

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

/** Passed to `onSkippedStep`: a mixed-precision step that was skipped. */
export interface SkippedStepInfo {
  /** The step (1-based). */
  step: number;
  /** The loss scale it used. */
  lossScale: number;
  /** The scale after its backoff. */
  nextLossScale: number;
}

/** Hooks into the loop; each may be async (the loop waits for it). */
export interface TrainerCallbacks {
  /** After every step. Keep it cheap: it runs in the hot loop. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** At every logged step (`logInterval`, the first and the last). */
  onLog?: (info: LogInfo) => void | Promise<void>;
  /**
   * Mixed precision: for every step whose gradients overflowed (the optimizer did not step),
   * logged or not. The decision is made on the device, so this runs when the step log is read
   * back (every log interval, and before evaluations and checkpoints), not right after the step.
   */
  onSkippedStep?: (info: SkippedStepInfo) => void | Promise<void>;
  /** After each validation. */
  onEval?: (info: EvalInfo) => void | Promise<void>;
  /** After each checkpoint is saved. */
  onCheckpoint?: (info: CheckpointInfo) => void | Promise<void>;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions<M extends Module = LanguageModel> {
  /** The model (e.g. a `GPT`); its parameters' backend is where batches go. */
  model: M;
  /**
   * Training batches: any {@link BatchSource} (each `next()` is one micro-batch), or a
   * `TokenDataset`, which the trainer samples with its config's `batchSize` and `seed` through
   * {@link Trainer.sampler} (build it with the config's `validationFraction`).
   */
  data: BatchSource | TokenDataset;
  /** What to minimise (default: {@link languageModelObjective}, next-token cross-entropy). */
  objective?: Objective<M>;
  /**
   * Validation batches, a fresh iterable for each evaluation (default for a TokenDataset: its
   * first `evalWindows` validation windows in batches of `evalBatchSize`; for other sources:
   * none, and the loop does not evaluate). Device tensors in them are disposed after use.
   */
  validation?: () => Iterable<BatchInput>;
  /** Tokens a micro-batch counts for throughput and the `tokens` counter (default: the elements of its `ids`). */
  countTokens?: (batch: BatchInput) => number;
  /** Hyperparameters (defaults: `TRAIN_DEFAULTS`). `batchSize` and `seed` apply to a TokenDataset only. */
  config?: TrainConfigInput;
  /** The optimizer (default: AdamW or SGD from the config, over {@link defaultParamGroups}). */
  optimizer?: Optimizer;
  /** Where metrics, plots and checkpoints go; without it nothing is kept (and `resume` is unavailable). */
  storage?: TrainerStorage;
  /** More JSON to store in each checkpoint's run config beside `train`, e.g. `{ model: gptConfig }`. */
  runConfig?: { [key: string]: JsonValue };
  /** Average bytes of text per token (`bytesPerToken(header)`), to report validation bits per byte. */
  bytesPerToken?: number;
  /** Loop hooks. */
  callbacks?: TrainerCallbacks;
  /** Progress display options (stream, mode, …), or false for silence. */
  progress?: false | Omit<ProgressOptions, 'totalSteps'>;
  /** Abort to stop after the current step; the trainer then saves a checkpoint (with storage) and returns. */
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
  /** The last checkpoint saved (with storage). */
  checkpoint?: CheckpointInfo;
}

/** Record keys the loop writes itself; an objective's metrics may not use them. */
const RESERVED_KEYS = new Set([
  'step',
  'loss',
  'lr',
  'gradNorm',
  'weight',
  'tokens',
  'tokensPerSecond',
  'elapsedSeconds',
  'epoch',
  'perplexity',
  'bitsPerByte',
  'lossScale',
  'event',
]);

function checkMetricNames(metrics: Record<string, number>): void {
  for (const name of Object.keys(metrics)) {
    if (RESERVED_KEYS.has(name)) {
      throw new Error(
        `Trainer: the objective's metric '${name}' has the name of a value the trainer logs itself; rename it`,
      );
    }
  }
}

function validationKey(name: string): string {
  return `val${name[0].toUpperCase()}${name.slice(1)}`;
}

/**
 * Trains a model: any objective over any batch source (see the file comment).
 *
 * ```ts
 * const trainer = new Trainer({ model, data, config: { steps: 2000, batchSize: 16 } });
 * const { validation } = await trainer.train();
 * ```
 */
export class Trainer<M extends Module = LanguageModel> {
  /** The model being trained. */
  readonly model: M;
  /** The training data. */
  readonly data: BatchSource | TokenDataset;
  /** The objective. */
  readonly objective: Objective<M>;
  /** The resolved hyperparameters. */
  readonly config: TrainConfig;
  /** The optimizer. */
  readonly optimizer: Optimizer;
  /** The training-window sampler of a TokenDataset (seeded with `config.seed`); undefined for other sources. */
  readonly sampler: WindowSampler | undefined;
  /** The learning rate per step. */
  readonly schedule: LrSchedule;
  /** Where metrics, plots and checkpoints go. */
  readonly storage: TrainerStorage | undefined;
  /**
   * The dynamic loss scale of `precision: 'mixed-float16'`, kept on the device (saved in
   * checkpoints); undefined for float32. Its host view (`state()`, `scale`, `skippedSteps`) is
   * current after each read-back of the step log (every log interval, evaluation and checkpoint).
   */
  readonly lossScaler: DeviceLossScaler | undefined;
  /** Optimizer steps completed. */
  step = 0;
  /** Training tokens processed. */
  tokens = 0;
  readonly #options: TrainerOptions<M>;
  /** What the loop draws from and checkpoints: `data`, or the sampler-driven view of a TokenDataset. */
  readonly #source: BatchSource;
  readonly #validation: (() => Iterable<BatchInput>) | undefined;
  /** Whether there is validation data: a `validation` option, or a TokenDataset's windows. */
  readonly #canValidate: boolean;
  readonly #countTokens: (batch: BatchInput) => number;
  #lastStepTokens = 0;
  #elapsedBefore = 0;
  #resumed = false;
  #lastValidation: (EvalResult & { step: number }) | undefined;
  #lastLoss: number | undefined;
  #lastCheckpoint: CheckpointInfo | undefined;
  #sessionStart: number | undefined;
  /** A resume that refused checkpoints, logged when the metrics log opens. */
  #resumeEvent: MetricsRecord | undefined;

  /** Validates the options and the config and builds the default optimizer when none is given. */
  constructor(options: TrainerOptions<M>) {
    const { model, data } = options;
    if ('outDir' in options && !options.storage) {
      throw new TypeError(
        "Trainer: outDir needs Node's file system; import { Trainer } from '@kiln/trainer/node', or pass a storage",
      );
    }
    if (typeof model?.namedParameters !== 'function') {
      throw new TypeError('Trainer: model must be a Module (with parameters to train)');
    }
    if (
      options.objective === undefined &&
      typeof (model as unknown as Partial<LanguageModel>).forward !== 'function'
    ) {
      throw new TypeError('Trainer: model must be a Module with forward(ids, targets) → { loss }');
    }
    if (options.objective !== undefined && typeof options.objective !== 'function') {
      throw new TypeError('Trainer: objective must be a function (model, batch) → { loss, weight, metrics }');
    }
    if (options.validation !== undefined && typeof options.validation !== 'function') {
      throw new TypeError('Trainer: validation must be a function returning an iterable of batches');
    }
    if (options.countTokens !== undefined && typeof options.countTokens !== 'function') {
      throw new TypeError('Trainer: countTokens must be a function (batch) → number of tokens');
    }
    this.config = resolveTrainConfig(options.config);
    const c = this.config;
    if (data instanceof TokenDataset) {
      if (data.validationWindows < 1 && !options.validation) {
        throw new RangeError(
          'Trainer: the dataset has no validation windows; build it with validationFraction > 0',
        );
      }
      for (const key of ['batchSize', 'seed'] as const) {
        const own = data.samplingOptions[key];
        if (own !== undefined && own !== c[key]) {
          throw new RangeError(
            `Trainer: the TokenDataset was created with ${key} ${own} but the config's ${key} is ${c[key]}; the Trainer samples a TokenDataset with its config's batchSize and seed, so set them there`,
          );
        }
      }
      this.sampler = new WindowSampler(c.seed);
      this.#source = this.#windowSource(data, this.sampler);
    } else {
      const source = data as Partial<BatchSource> | undefined;
      if (
        typeof source?.next !== 'function' ||
        typeof source.state !== 'function' ||
        typeof source.restore !== 'function'
      ) {
        throw new TypeError(
          'Trainer: data must be a TokenDataset or a BatchSource { next(), state(), restore() }',
        );
      }
      this.sampler = undefined;
      this.#source = data;
    }
    this.#validation = options.validation;
    this.#canValidate = options.validation !== undefined || data instanceof TokenDataset;
    this.model = model;
    this.data = data;
    this.objective = options.objective ?? (languageModelObjective() as unknown as Objective<M>);
    this.optimizer = options.optimizer ?? Trainer.#defaultOptimizer(model, c);
    this.schedule = createSchedule(c.schedule);
    this.storage = options.storage;
    if (c.precision === 'mixed-float16') {
      // Fail here, before any work, when the backend cannot store float16 (WebGPU without shader-f16).
      requireFloat16(modelBackend(model as unknown as LanguageModel), "the model's float16 weights");
      const half = model.namedParameters().find(([, p]) => p.requiresGrad && p.dtype !== 'float32');
      if (half) {
        throw new TypeError(
          `Trainer: precision 'mixed-float16' keeps float32 master weights, but parameter '${half[0]}' is ${half[1].dtype}; build the model in float32 (or model.to('float32')), or train a float16 model with precision 'float32'`,
        );
      }
      this.lossScaler = new DeviceLossScaler(modelBackend(model as unknown as LanguageModel), c.lossScale);
    } else this.lossScaler = undefined;
    this.#countTokens = options.countTokens ?? batchTokens;
    this.#options = options;
  }

  static #defaultOptimizer(model: Module, c: TrainConfig): Optimizer {
    const groups = defaultParamGroups(model, {
      weightDecay: c.weightDecay,
      decayEmbeddings: c.decayEmbeddings,
    });
    const lr = 0; // set from the schedule before every step
    return c.optimizer === 'sgd'
      ? new SGD(groups, { lr, momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay })
      : new AdamW(groups, { lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay });
  }

  /** A TokenDataset drawn with the config's batch size and `sampler`, as a source. */
  #windowSource(data: TokenDataset, sampler: WindowSampler): BatchSource {
    const batchSize = this.config.batchSize;
    return {
      next: () => tokenBatchInput(data.sampleTrainBatch(batchSize, sampler)),
      state: () => ({ ...sampler.state() }),
      restore: (state) =>
        sampler.setState(parseWindowSamplerState(state, 'Trainer.resume (TokenDataset sampler)')),
    };
  }

  /**
   * Tokens per optimizer step: for a TokenDataset `batchSize × gradAccum × contextLength`; for
   * other sources, the tokens of the last step taken (0 before the first).
   */
  get tokensPerStep(): number {
    if (this.data instanceof TokenDataset) {
      return this.config.batchSize * this.config.gradAccum * this.data.contextLength;
    }
    return this.#lastStepTokens;
  }

  /** Wall-clock seconds of training so far, across resumes. */
  get elapsedSeconds(): number {
    return (
      this.#elapsedBefore +
      (this.#sessionStart === undefined ? 0 : (performance.now() - this.#sessionStart) / 1000)
    );
  }

  /** Reads back what mixed precision keeps on the device: the optimizer's step count and the scaler (no-ops otherwise). */
  async #syncDeviceCounts(): Promise<void> {
    await this.optimizer.syncStepCount();
    await this.lossScaler?.sync();
  }

  /** What checkpoints save and restore. */
  get #parts(): TrainingParts {
    return {
      model: this.model,
      optimizer: this.optimizer,
      data: this.#source,
      ...(this.lossScaler ? { lossScaler: this.lossScaler } : {}),
    };
  }

  /**
   * Restores the most recently saved usable checkpoint of the storage (or `checkpoint`):
   * weights, optimizer state, RNG, the source's position and counters. Returns it, or undefined
   * when there is none (the run then starts from step 0).
   *
   * A resume never silently starts over: a checkpoint that cannot be used (a file missing,
   * truncated, failing its checksum or unparsable) is refused and the next older one is tried,
   * with a warning (and a `resume-fallback` record in the metrics log) naming what was refused
   * and why. When checkpoints exist but none is usable it throws a {@link ResumeError} naming
   * each, unless `options.ifUnusable` is `'start-fresh'`. An explicit `checkpoint` that fails to
   * load throws.
   */
  async resume(
    checkpoint?: CheckpointInfo | ResumeOptions,
    options: ResumeOptions = {},
  ): Promise<CheckpointInfo | undefined> {
    if (!this.storage)
      throw new Error('Trainer.resume: there is no checkpoint storage; pass outDir or storage');
    await this.lock();
    try {
      return await this.#resume(checkpoint, options);
    } catch (error) {
      await this.storage.unlock?.(); // a failed resume leaves the directory to whoever comes next
      throw error;
    }
  }

  /**
   * Takes the storage's lock now (with `outDir`: `outDir/run.lock`, naming this process), so no
   * other trainer uses the run directory; throws naming the owner when one does. `train()`,
   * `resume()` and `saveCheckpoint()` take it themselves, and `train()` releases it when it
   * ends; call this first when you change the directory yourself (e.g. delete old checkpoints
   * for a fresh start). Does nothing without storage or when the storage has no lock.
   */
  async lock(): Promise<void> {
    await this.storage?.lock?.();
  }

  async #resume(
    checkpoint: CheckpointInfo | ResumeOptions | undefined,
    options: ResumeOptions,
  ): Promise<CheckpointInfo | undefined> {
    const storage = this.storage!;
    if (checkpoint !== undefined && !('path' in checkpoint)) {
      options = checkpoint;
      checkpoint = undefined;
    }
    const load = (info: CheckpointInfo) => storage.loadCheckpoint(info, this.#parts);
    let info: CheckpointInfo | undefined;
    let loaded: Awaited<ReturnType<typeof load>> | undefined;
    if (checkpoint) {
      try {
        loaded = await load(checkpoint);
      } catch (error) {
        throw new ResumeError(
          `Trainer.resume: cannot resume from step ${checkpoint.step} (${checkpoint.path}): ${(error as Error).message}`,
          [{ step: checkpoint.step, path: checkpoint.path, reason: (error as Error).message }],
        );
      }
      info = checkpoint;
    } else {
      const point = await chooseResumePoint(storage, load, options);
      info = point.checkpoint;
      loaded = point.loaded;
      if (point.refused.length > 0) {
        const then = info
          ? `resuming from step ${info.step} (${info.path})`
          : "starting fresh from step 0, as asked (ifUnusable: 'start-fresh')";
        console.warn(`[kiln] Trainer.resume: ${describeRefused(point.refused)}; ${then}`);
        this.#resumeEvent = {
          step: info?.step ?? 0,
          event: info ? 'resume-fallback' : 'resume-fresh',
          resumedFrom: info?.path ?? null,
          refused: point.refused.map((r) => ({ step: r.step, path: r.path, reason: r.reason })),
        };
      }
    }
    if (!info || !loaded) return undefined;
    const { state, config } = loaded;
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
    await this.lock();
    let run: RunOutputs;
    try {
      run = await this.#openRun();
    } catch (error) {
      await this.storage?.unlock?.();
      throw error;
    }
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
        await this.#optimizerStep(run, lr);
        await callbacks.onStep?.({ step: this.step, lr, tokens: this.tokens });
        // A redrawn bar moves every step (showing the last loss read back); lines wait for log steps.
        if (run.progress?.mode === 'bar') {
          run.progress.update({ step: this.step, tokens: this.tokens, lr, loss: this.#lastLoss });
        }
        const last = this.step === c.steps;
        const evalDue = last || this.step % c.evalInterval === 0;
        const checkpointDue =
          this.storage !== undefined &&
          (last || (c.checkpointInterval > 0 && this.step % c.checkpointInterval === 0));
        if (this.#isLogStep(this.step) || evalDue || checkpointDue) await this.#readBack(run);
        if (evalDue) await this.#validate(run);
        if (checkpointDue) await this.#checkpoint(run);
        // Throughput is training throughput: evaluation and checkpoint time are left out.
        if (evalDue || checkpointDue) startInterval(run, this.tokens);
      }
      if (stopped) {
        await this.#readBack(run);
        if (this.storage && this.#lastCheckpoint?.step !== this.step) await this.#checkpoint(run);
        run.progress?.log(`stopped at step ${this.step}`);
      }
    } catch (error) {
      throw this.#deviceFailure(error);
    } finally {
      run.stepLog.dispose();
      run.float16?.dispose();
      run.progress?.finish();
      this.#elapsedBefore = this.elapsedSeconds;
      this.#sessionStart = undefined;
      try {
        await run.metrics?.close();
      } finally {
        await this.storage?.unlock?.();
      }
    }
    return {
      step: this.step,
      tokens: this.tokens,
      elapsedSeconds: this.#elapsedBefore,
      loss: this.#lastLoss,
      validation: this.#lastValidation,
      stopped,
      checkpoint: this.#lastCheckpoint,
    };
  }

  /** The current model's validation loss, perplexity, bits per byte and metrics (nothing is logged). */
  evaluate(): Promise<EvalResult> {
    const c = this.config;
    const { bytesPerToken } = this.#options;
    if (this.#validation) {
      return evaluate(this.model, owned(this.#validation()), { bytesPerToken, objective: this.objective });
    }
    if (this.data instanceof TokenDataset) {
      return evaluate(this.model, this.data, {
        batchSize: c.evalBatchSize,
        maxWindows: c.evalWindows,
        bytesPerToken,
        objective: this.objective,
      });
    }
    return Promise.reject(
      new Error('Trainer.evaluate: there is no validation data; pass validation: () => batches'),
    );
  }

  /** Saves a checkpoint of the current state now (needs storage). */
  async saveCheckpoint(): Promise<CheckpointInfo> {
    if (!this.storage) {
      throw new Error('Trainer.saveCheckpoint: there is no checkpoint storage; pass outDir or storage');
    }
    await this.lock();
    await this.#syncDeviceCounts();
    let info: CheckpointInfo;
    try {
      info = await this.storage.saveCheckpoint(
        this.#parts,
        {
          step: this.step,
          tokens: this.tokens,
          elapsedSeconds: this.elapsedSeconds,
          valLoss: this.#lastValidation?.loss,
        },
        { train: this.config as unknown as JsonValue, ...this.#options.runConfig },
      );
    } catch (error) {
      // Say what survives: the last checkpoint on disk, and this step's state in memory.
      const last = this.#lastCheckpoint;
      const kept = last
        ? `the last checkpoint, step ${last.step} (${last.path}), is intact`
        : 'no earlier checkpoint of this run exists';
      const message = `${(error as Error).message}. ${kept[0].toUpperCase()}${kept.slice(1)}; the training state of step ${this.step} is still in memory: free space or fix the directory and call trainer.saveCheckpoint() to save it${last ? `, or resume from step ${last.step} later` : ''}`;
      throw Object.assign(new Error(message, { cause: error }), { name: (error as Error).name });
    }
    this.#lastCheckpoint = info;
    return info;
  }

  /** Opens the metrics log and the progress display for one `train()` call. */
  async #openRun(): Promise<RunOutputs> {
    const c = this.config;
    const { progress } = this.#options;
    const metrics = await this.storage?.openMetrics({ resumed: this.#resumed, step: this.step });
    // What the resume refused goes into the log the run continues, so it is not only a warning.
    if (this.#resumeEvent) await metrics?.write(this.#resumeEvent);
    this.#resumeEvent = undefined;
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
   * One optimizer step at learning rate `lr`; its values go to the step log as device tensors
   * (the metrics only for steps that are logged).
   */
  async #optimizerStep(run: RunOutputs, lr: number): Promise<void> {
    const c = this.config;
    const drawn = { tokens: 0 };
    let mixed: { lossScale: Tensor; skipped: Tensor } | undefined;
    let stepped: ReturnType<typeof trainStep>;
    if (this.lossScaler) {
      run.float16 ??= new Float16Weights(this.model);
      const result = await trainStepMixed(
        this.model,
        this.optimizer,
        this.#microBatches(drawn),
        this.objective,
        {
          gradClip: c.gradClip,
          lr,
          scaler: this.lossScaler,
          weights: run.float16,
        },
      );
      stepped = result;
      mixed = { lossScale: result.lossScale, skipped: result.skipped };
    } else {
      stepped = trainStep(this.model, this.optimizer, this.#microBatches(drawn), this.objective, {
        gradClip: c.gradClip,
        lr,
      });
    }
    const { loss, weight, gradNorm, metrics } = stepped;
    this.step++;
    this.tokens += drawn.tokens;
    this.#lastStepTokens = drawn.tokens;
    const logged = this.#isLogStep(this.step);
    if (!logged) for (const m of Object.values(metrics)) m.dispose();
    run.stepLog.push({
      step: this.step,
      lr,
      tokens: this.tokens,
      epoch: this.#source.epoch,
      loss,
      gradNorm,
      weight,
      metrics: logged ? metrics : undefined,
      ...(mixed ? { mixed } : {}),
    });
  }

  /** The step's `gradAccum` micro-batches, drawn one at a time; what a batch held on the device is freed after it ran. */
  *#microBatches(drawn: { tokens: number }): Generator<BatchInput> {
    for (let i = 0; i < this.config.gradAccum; i++) {
      const batch = this.#source.next();
      const tokens = this.#countTokens(batch);
      if (!(Number.isFinite(tokens) && tokens >= 0)) {
        throw new RangeError(`Trainer: countTokens returned ${tokens}; it must be a number ≥ 0`);
      }
      drawn.tokens += tokens;
      try {
        yield batch;
      } finally {
        disposeBatch(batch);
      }
    }
  }

  /**
   * Reads back the pending steps (one transfer), logs the log steps among them (metrics,
   * progress, `onLog`) and throws a {@link NonFiniteError} at the first bad one, after
   * logging the good steps before it.
   */
  async #readBack(run: RunOutputs): Promise<void> {
    const values = await run.stepLog.read();
    // Mixed precision keeps the step count and the loss scale on the device; bring the host's
    // copies up to date while reading anyway (a checkpoint or a log may need them).
    await this.#syncDeviceCounts();
    const seconds = Math.max(performance.now() - run.interval.time, 1e-6) / 1000;
    const tokensPerSecond = (this.tokens - run.interval.tokens) / seconds;
    startInterval(run, this.tokens);
    const bad = firstNonFinite(values);
    for (const v of bad === -1 ? values : values.slice(0, bad)) {
      this.#lastLoss = v.loss;
      if (v.skipped) {
        // Every skipped step gets a record, logged step or not: the scale it used and the next.
        // It is known here, at the read-back, because the skip was decided on the device.
        const lossScale = v.lossScale ?? Number.NaN;
        const nextLossScale = lossScale * this.config.lossScale.backoffFactor;
        await run.metrics?.write({
          step: v.step,
          event: 'skipped-step',
          reason: 'gradients overflowed float16 (inf or NaN); the optimizer did not step',
          loss: v.loss,
          lossScale: v.lossScale ?? null,
          nextLossScale: v.lossScale === undefined ? null : nextLossScale,
          tokens: v.tokens,
        });
        await this.#options.callbacks?.onSkippedStep?.({ step: v.step, lossScale, nextLossScale });
        run.progress?.log(
          `step ${v.step} | skipped: gradients overflowed at loss scale ${v.lossScale}; scale lowered`,
        );
      }
      if (!this.#isLogStep(v.step)) continue;
      checkMetricNames(v.metrics);
      const elapsedSeconds = this.elapsedSeconds;
      await run.metrics?.write({
        step: v.step,
        loss: v.loss,
        lr: v.lr,
        gradNorm: v.gradNorm,
        ...v.metrics,
        ...(v.epoch === undefined ? {} : { epoch: v.epoch }),
        ...(v.lossScale === undefined ? {} : { lossScale: v.lossScale }),
        tokens: v.tokens,
        tokensPerSecond: Math.round(tokensPerSecond),
        elapsedSeconds: round(elapsedSeconds),
      });
      run.progress?.update({
        step: v.step,
        tokens: v.tokens,
        lr: v.lr,
        loss: v.loss,
        fields: { 'grad norm': v.gradNorm, ...v.metrics },
      });
      await this.#options.callbacks?.onLog?.({ ...v, tokensPerSecond, elapsedSeconds });
    }
    if (bad !== -1) throw nonFiniteStepError(values[bad], this.#lastGoodHint());
  }

  /** Steps that get a metrics record: the first, every `logInterval`-th and the last. */
  #isLogStep(step: number): boolean {
    return step === 1 || step % this.config.logInterval === 0 || step === this.config.steps;
  }

  async #validate(run: RunOutputs): Promise<void> {
    if (!this.#canValidate) return;
    const result = await this.evaluate();
    if (!Number.isFinite(result.loss)) {
      throw new NonFiniteError(
        `training stopped at step ${this.step}: the validation loss is ${describeValue(result.loss)}. ${this.#lastGoodHint()}`,
        this.step,
        ['valLoss'],
      );
    }
    this.#lastValidation = { ...result, step: this.step };
    const elapsedSeconds = this.elapsedSeconds;
    checkMetricNames(result.metrics);
    const record: MetricsRecord = { step: this.step, valLoss: result.loss, valPerplexity: result.perplexity };
    if (result.bitsPerByte !== undefined) record.valBitsPerByte = result.bitsPerByte;
    for (const [name, value] of Object.entries(result.metrics)) record[validationKey(name)] = value;
    Object.assign(record, { tokens: this.tokens, elapsedSeconds: round(elapsedSeconds) });
    await run.metrics?.write(record);
    const bpb = result.bitsPerByte === undefined ? '' : ` | ${result.bitsPerByte.toFixed(4)} bits/byte`;
    run.progress?.log(
      `step ${this.step} | val loss ${result.loss.toFixed(4)} | perplexity ${result.perplexity.toFixed(2)}${bpb}`,
    );
    await this.storage?.writePlot?.({
      title: this.#options.plotTitle ?? 'Loss',
      // The default objective's loss is cross-entropy per target token; another's unit is its own.
      yLabel: this.#options.objective === undefined ? 'loss (nats/token)' : 'loss',
    });
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

  /**
   * A device failure (the backend's error: device lost, out of memory) gets the step and where
   * the last checkpoint is, so the message says what to resume from; the error keeps its class.
   * Device errors surface at the next sync point, which may be a few steps after their cause.
   */
  #deviceFailure(error: unknown): unknown {
    if (
      !(error instanceof Error) ||
      error.name !== 'BackendError' ||
      error.message.startsWith('training stopped')
    )
      return error;
    const last = this.#lastCheckpoint;
    const where = last
      ? `The last checkpoint is step ${last.step} (${last.path}); it and the metrics logged so far are intact. Restart the process (or re-create the backend) and resume from it with trainer.resume().`
      : this.storage
        ? 'No checkpoint was saved before it (lower checkpointInterval to lose less); the metrics logged so far are intact.'
        : 'Nothing was saved (no outDir or storage).';
    const oom = /out of memory/i.test(error.message)
      ? ' For out of memory, use a smaller batchSize (raise gradAccum to keep the tokens per step) or a smaller model.'
      : '';
    error.message = `training stopped at step ${this.step + 1} (${this.step} steps completed): ${error.message}. ${where}${oom}`;
    return error;
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
    const changed = (['seed', 'batchSize', 'gradAccum', 'optimizer', 'precision'] as const).filter(
      (k) => JSON.stringify(train[k]) !== JSON.stringify(this.config[k]),
    );
    if (changed.length > 0) {
      console.warn(
        `[kiln] resuming ${info.path} with a different ${changed.join(', ')} than it was trained with; the run will not match an uninterrupted one`,
      );
    }
  }
}

/** `batches`, with each batch's device tensors disposed once it has been used (the trainer owns what it draws). */
function* owned(batches: Iterable<BatchInput>): Generator<BatchInput> {
  for (const batch of batches) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

/** What one `train()` call writes to, and the start of the current throughput interval. */
interface RunOutputs {
  metrics: MetricsLog | undefined;
  progress: ProgressReporter | undefined;
  stepLog: StepLog;
  interval: { time: number; tokens: number };
  /** Mixed precision: the float16 working copies of the weights, made at the first step and freed when `train()` ends. */
  float16?: Float16Weights;
}

function startInterval(run: RunOutputs, tokens: number): void {
  run.interval = { time: performance.now(), tokens };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
