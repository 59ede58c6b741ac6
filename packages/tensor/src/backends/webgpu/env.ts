/**
 * The WebGPU backend's tuning switches (`KILN_MATMUL_VARIANT`, `KILN_ROW_SUBGROUPS`, …) come from
 * the environment when there is one. Browsers have no `process`, so every read goes through here
 * and gives `undefined` there.
 */
export function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}
