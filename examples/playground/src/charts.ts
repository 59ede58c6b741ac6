// Canvas drawings of the page: the loss curve and one head's attention pattern. Plain 2D canvas,
// no chart library; both scale to the canvas's pixel size.
import type { LossPoint } from './session.js';

/** Draws the loss against the step, with the y axis from the lowest to the highest loss seen. */
export function drawLossCurve(canvas: HTMLCanvasElement, points: readonly LossPoint[]): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const pad = { left: 44, right: 10, top: 10, bottom: 24 };
  ctx.strokeStyle = '#999';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
  if (points.length === 0) return;
  const losses = points.map((p) => p.loss);
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const span = hi - lo || 1;
  const lastStep = points[points.length - 1].step;
  const x = (step: number) =>
    pad.left + ((step - 1) / Math.max(1, lastStep - 1)) * (width - pad.left - pad.right);
  const y = (loss: number) => pad.top + ((hi - loss) / span) * (height - pad.top - pad.bottom);
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  ctx.fillText(hi.toFixed(2), 4, pad.top + 8);
  ctx.fillText(lo.toFixed(2), 4, height - pad.bottom);
  ctx.fillText(`step ${lastStep}`, width - pad.right - 60, height - 6);
  ctx.strokeStyle = '#d9480f';
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (const [i, p] of points.entries()) {
    if (i === 0) ctx.moveTo(x(p.step), y(p.loss));
    else ctx.lineTo(x(p.step), y(p.loss));
  }
  ctx.stroke();
}

/** Draws a causal attention pattern: row i (query token i) over keys 0…i, darker for more weight. */
export function drawAttention(
  canvas: HTMLCanvasElement,
  tokens: readonly string[],
  weights: readonly number[][],
): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const n = tokens.length;
  if (n === 0) return;
  const label = 70;
  const cell = Math.min((width - label) / n, (height - label) / n);
  ctx.font = `${Math.max(8, Math.min(12, cell * 0.8))}px monospace`;
  ctx.fillStyle = '#333';
  tokens.forEach((t, i) => {
    const shown = JSON.stringify(t).slice(1, -1).slice(0, 8);
    ctx.fillText(shown, 2, label + i * cell + cell * 0.75);
    ctx.save();
    ctx.translate(label + i * cell + cell * 0.75, label - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(shown, 0, 0);
    ctx.restore();
  });
  weights.forEach((row, i) => {
    row.forEach((w, j) => {
      const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, w))));
      ctx.fillStyle = `rgb(${shade}, ${shade}, 255)`;
      ctx.fillRect(label + j * cell, label + i * cell, cell - 1, cell - 1);
    });
  });
}
