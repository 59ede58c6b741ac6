// Browser entry of the first-steps benchmark (bundled by browser.ts): reads steps, batch and
// context from the page's query string and publishes the FirstStepsRun, or the error, as
// `window.firstSteps` (a promise the driver awaits). The page sets `process.env.KILN_WEBGPU_WAIT`
// before this module loads, since the executor reads it once.
import { firstSteps } from './steps.js';

const query = new URLSearchParams(location.search);
const number = (name: string, fallback: number) => Number(query.get(name) ?? fallback);
(globalThis as { firstSteps?: Promise<unknown> }).firstSteps = firstSteps(
  number('steps', 12),
  number('batch', 4),
  number('context', 32),
);
