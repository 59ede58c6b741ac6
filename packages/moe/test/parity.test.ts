/**
 * Parity with a PyTorch Mixtral-style sparse MoE block (scripts/reference/moe_parity.py): the
 * layer's output, Mixtral's load-balancing loss, the z-loss and the gradients of
 * `sum(out · w) + coef · aux + β · zloss` for the input, the router and every expert weight,
 * loaded through the layer's own Mixtral names, on every backend.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backward, noGrad, Parameter } from '@kiln/autograd';
import { type Backend, keep, type Tensor } from '@kiln/tensor';
import { loadSafetensors } from '@kiln/tensor/node';
import { hfView } from '@kiln/transformer';
import { describe, expect, test } from 'vitest';
import { MoE, type MoEOptions } from '../src/index.js';
import { initCpu, maxAbsDiff, tryWebgpu } from './helpers.js';

const cpu = await initCpu();
const gpu = await tryWebgpu();
const FIXTURES = join(import.meta.dirname, 'fixtures');

async function load(name: string, backend: Backend) {
  const dir = join(FIXTURES, `moe-parity-${name}`);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  const weights = (await loadSafetensors(join(dir, 'model.safetensors'), { backend })).tensors;
  const expected = (await loadSafetensors(join(dir, 'expected.safetensors'), { backend })).tensors;
  const moe = new MoE(config.hidden_size, config.kiln_moe as MoEOptions, { backend });
  const bindings = moe.hfBindings('', 'llama');
  expect(bindings.map((b) => b.name).sort()).toEqual(Object.keys(weights).sort());
  noGrad(() => {
    for (const b of bindings) {
      const view = hfView(b);
      view.assign(weights[b.name]);
      view.dispose();
    }
  });
  return { moe, config, expected, bindings };
}

async function host(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

describe.each([
  ['cpu', cpu],
  ['webgpu', gpu],
] as const)('parity with PyTorch on %s', (_name, backend) => {
  test.skipIf(!backend).each(['mixtral', 'capacity'])(
    '%s: output, aux losses and gradients',
    async (name) => {
      const { moe, config, expected, bindings } = await load(name, backend!);
      const x = new Parameter(expected.x.alias());
      const reports: Record<string, Tensor> = {};
      const context = {
        // the layer's scope frees what it reported: keep a handle, as a model's collector does
        reportAuxLoss: (n: string, t: Tensor) => {
          reports[n] = keep(t.reshape(t.shape));
        },
        reportMetric: (n: string, t: Tensor) => {
          reports[n] = keep(t.reshape(t.shape));
        },
      };
      const out = moe.forward(x, context);
      expect(maxAbsDiff(await host(out), await host(expected.out))).toBeLessThan(1e-4);
      // Kiln reports coef·k·(Mixtral's loss / k): the same term as router_aux_loss_coef · aux
      const aux = await reports.balance.item();
      expect(aux).toBeCloseTo(config.router_aux_loss_coef * (await expected.aux.item()), 5);
      if (config.kiln_moe.balancing.zLoss > 0) {
        expect(await reports.zloss.item()).toBeCloseTo(
          config.kiln_moe.balancing.zLoss * (await expected.zloss.item()),
          4,
        );
      }
      if (name === 'capacity') {
        const N = x.shape[0];
        expect((await reports.dropped.item()) * N * config.num_experts_per_tok).toBeCloseTo(
          config.dropped_pairs,
          4,
        );
      }
      let loss = out.mul(expected.w).sum().add(reports.balance);
      if (reports.zloss) loss = loss.add(reports.zloss);
      expect(await loss.item()).toBeCloseTo(await expected.loss.item(), 3);
      backward(loss);
      expect(maxAbsDiff(await host(x.grad!), await host(expected['grad.x']))).toBeLessThan(1e-4);
      for (const b of bindings) {
        const view = hfView({ ...b, param: b.param.grad as Parameter });
        const want = await host(expected[`grad.${b.name}`]);
        const scale = Math.max(1, ...want.map(Math.abs));
        expect(maxAbsDiff(await host(view), want) / scale, `grad of ${b.name}`).toBeLessThan(1e-4);
      }
      moe.dispose();
    },
  );
});
