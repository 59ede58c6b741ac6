/**
 * Parameter creation shared by the layers: every weight is created from the seeded generator
 * (`manualSeed`), so the same seed gives the same model.
 */

import { Parameter } from '@kiln/autograd';
import { type Backend, full, randn } from '@kiln/tensor';

/** Where layer parameters are created: an initialised backend or its name (default: the default backend). */
export interface LayerOptions {
  backend?: Backend | string;
}

/** A parameter drawn from N(0, std²). */
export function normalParameter(
  shape: readonly number[],
  std: number,
  options: LayerOptions = {},
): Parameter {
  return new Parameter(randn(shape, { std, backend: options.backend, usage: 'parameter' }));
}

/** A parameter filled with `value` (norm gains 1, biases 0). */
export function constantParameter(
  shape: readonly number[],
  value: number,
  options: LayerOptions = {},
): Parameter {
  return new Parameter(full(shape, value, { backend: options.backend, usage: 'parameter' }));
}
