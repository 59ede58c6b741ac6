// Expert-load heatmaps as SVG: one panel per MoE layer, experts down, logged steps across, each
// cell the fraction of that layer's routed pairs that went to the expert (white = 0, dark = the
// panel's scale maximum; 1/E is perfect balance). Pure: strings in, a string out.

/** One layer's load over training: `steps[i]` and `load[i][e]`. */
export interface LoadHistory {
  layer: string;
  steps: number[];
  load: number[][];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The SVG of `layers` (all with the same experts), titled `title`. */
export function renderLoadHeatmapSvg(title: string, layers: readonly LoadHistory[]): string {
  const cell = 14;
  const left = 70;
  const top = 40;
  const panelGap = 40;
  const experts = layers[0]?.load[0]?.length ?? 0;
  const columns = Math.max(1, ...layers.map((l) => l.steps.length));
  const width = left + columns * cell + 130;
  const panelHeight = experts * cell + 30;
  const height = top + layers.length * (panelHeight + panelGap);
  const max = Math.max(1e-9, ...layers.flatMap((l) => l.load.flat()));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14">${esc(title)}</text>`,
  ];
  layers.forEach((l, p) => {
    const y0 = top + p * (panelHeight + panelGap);
    out.push(`<text x="4" y="${y0 - 6}">${esc(l.layer)}</text>`);
    for (let e = 0; e < experts; e++) {
      out.push(`<text x="${left - 6}" y="${y0 + e * cell + 10}" text-anchor="end">expert ${e}</text>`);
      l.load.forEach((row, i) => {
        const v = row[e] / max;
        const shade = Math.round(255 * (1 - v));
        out.push(
          `<rect x="${left + i * cell}" y="${y0 + e * cell}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)"><title>step ${l.steps[i]}: ${(row[e] * 100).toFixed(1)}%</title></rect>`,
        );
      });
    }
    const last = l.steps.length - 1;
    out.push(`<text x="${left}" y="${y0 + experts * cell + 14}">step ${l.steps[0] ?? 0}</text>`);
    if (last > 0)
      out.push(
        `<text x="${left + last * cell + cell}" y="${y0 + experts * cell + 14}" text-anchor="end">step ${l.steps[last]}</text>`,
      );
  });
  out.push(
    `<text x="${left + columns * cell + 10}" y="${top + 10}">dark = ${(max * 100).toFixed(0)}% of pairs</text>`,
  );
  out.push(
    `<text x="${left + columns * cell + 10}" y="${top + 26}">balanced = ${experts ? (100 / experts).toFixed(1) : 0}%</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Coefficient of variation of one load vector (0 = perfectly balanced). */
export function loadCv(load: readonly number[]): number {
  const mean = load.reduce((a, b) => a + b, 0) / load.length;
  const variance = load.reduce((a, b) => a + (b - mean) ** 2, 0) / load.length;
  return Math.sqrt(variance) / mean;
}
