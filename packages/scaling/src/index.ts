/**
 * @kiln/scaling: count, cost, fit and predict.
 *
 * - Counting: `countGPT(config)` (total, embedding, non-embedding and active parameters, training
 *   and inference FLOPs per token, equal to `GPT.numParameters()` / `GPT.flopsPerToken()`);
 *   `countModel` takes a config, a built model, a model's own `ModelReport`
 *   (`{ totalParams, activeParams, flopsPerToken }`, so MoE models plug in) or a bare N.
 * - Memory: `trainingMemory` (weights, gradients, optimizer states — 16–18 bytes per parameter in
 *   mixed precision — and activations after Korthikanti et al. 2022, with or without
 *   recomputation).
 * - Cost: `ACCELERATORS` (datasheet peaks with sources, typical prices), `measureThisMachine`,
 *   `estimateTraining` (FLOPs, accelerator-hours, days, dollars, fits in memory) and `impliedMfu`.
 * - Laws: `KAPLAN_2020`, `CHINCHILLA_2022`, `EPOCH_2024` (the default), `lossAt`,
 *   `computeOptimal`, `isoFlopCurve`, `isoLossCurve`.
 * - Fitting: `fitScalingLaw` (Huber on log-loss, log-sum-exp form, L-BFGS from a grid of starts,
 *   bootstrap intervals), `minimizeLbfgs`, `parseChinchillaCsv`.
 * - Sweeps: `planSweep`, `pickOptimalModel`; the runner (`runSweep`) is in `@kiln/scaling/node`.
 * - Plots: SVG isoFLOP curves, frontier, loss against compute, and the (C, N) plane.
 *
 * This entry touches no files and bundles for the browser.
 *
 * ```ts
 * import { computeOptimal, estimateTraining } from '@kiln/scaling';
 * estimateTraining({ params: 70e9, tokens: 2e12, accelerator: 'a100-80gb', count: 6000, mfu: 0.43 }).days; // ≈ 12
 * computeOptimal(5.76e23).tokensPerParameter; // Epoch refit: ≈ 18 tokens per parameter at Chinchilla's budget
 * ```
 * @packageDocumentation
 */

export {
  ACCELERATORS,
  type Accelerator,
  acceleratorIds,
  type ComputeFormat,
  getAccelerator,
  type PeakFlops,
  peakFlops,
} from './accelerators.js';
export { type ChinchillaPoint, parseChinchillaCsv } from './chinchilla-data.js';
export {
  type CountableModel,
  checkReport,
  countGPT,
  countModel,
  type GPTCounts,
  inferenceFlops,
  type ModelLike,
  type ModelReport,
  modelReport,
  trainingFlops,
} from './count.js';
export {
  estimateTraining,
  type ImpliedMfuOptions,
  impliedMfu,
  type TrainingEstimate,
  type TrainingEstimateOptions,
} from './estimate.js';
export {
  type ChinchillaFit,
  type Coefficients,
  type Fit,
  type FitOptions,
  fitScalingLaw,
  type LossPoint,
  type PowerFit,
  type PowerLaw,
  type PowerPoint,
  powerLossAt,
} from './fit.js';
export {
  CHINCHILLA_2022,
  type ChinchillaLaw,
  type ComputeOptimal,
  type CurveOptions,
  type CurvePoint,
  computeOptimal,
  DEFAULT_LAW,
  EPOCH_2024,
  isoFlopCurve,
  isoLossCurve,
  KAPLAN_2020,
  type KaplanLaw,
  LAWS,
  lossAt,
  optimalExponents,
  PF_DAY,
  type ScalingLaw,
} from './laws.js';
export { type LbfgsOptions, type LbfgsResult, minimizeLbfgs, type Objective } from './lbfgs.js';
export { type MeasureOptions, measureThisMachine } from './measure.js';
export {
  type ActivationShape,
  activationBytes,
  type Checkpointing,
  type MemoryEstimate,
  type MemoryOptions,
  type OptimizerKind,
  type Precision,
  stateBytesPerParameter,
  trainingMemory,
} from './memory.js';
export {
  type FrontierOptions,
  formatCompute,
  type LossVsComputeOptions,
  type NamedLaw,
  type PlotRun,
  renderComputeSizePlaneSvg,
  renderFrontierSvg,
  renderIsoFlopSvg,
  renderLossVsComputeSvg,
} from './plots.js';
export { SeededRandom } from './random.js';
export {
  type PlannedRun,
  pickOptimalModel,
  planRun,
  planSweep,
  type SweepPlanOptions,
} from './sweep-plan.js';
