/** The error that stops training when the loss or the gradient norm stops being a finite number, or a step has nothing to learn from. */

/** Training produced a NaN or infinite loss or gradient norm, or a step of total weight 0. The message names the step and what went wrong. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';

  constructor(
    message: string,
    /** The optimizer step (1-based, as logged) whose loss or gradient norm was not finite. */
    readonly step: number,
    /** Which values were bad, e.g. `['loss', 'gradNorm']`, `['valLoss']`, or `['weight']` (every target ignored). */
    readonly what: readonly string[],
  ) {
    super(message);
  }
}

/** Describes a value for an error message: `NaN`, `Infinity`, `-Infinity` or the number. */
export function describeValue(value: number): string {
  return Number.isNaN(value) ? 'NaN' : String(value);
}
