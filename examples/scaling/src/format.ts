// Number formatting for the command outputs.

/** 1.23k, 4.56M, 7.89B, 1.2T. */
export function si(n: number, digits = 3): string {
  for (const [scale, suffix] of [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (Math.abs(n) >= scale) return `${(n / scale).toPrecision(digits)}${suffix}`;
  }
  return n.toPrecision(digits);
}

/** Bytes as GB (decimal, as datasheets count). */
export function gb(bytes: number): string {
  return `${(bytes / 1e9).toPrecision(3)} GB`;
}

/** $1.23M, $456k. */
export function dollars(usd: number): string {
  return `$${si(usd)}`;
}

/** 1.2e23 */
export function sci(n: number, digits = 2): string {
  return n.toExponential(digits).replace('e+', 'e');
}
