/**
 * registerHFConfigFormat: a config.json dialect added from outside is read by fromHFConfig and
 * written by toHFConfig when it describes the config; built-in and taken model types are errors.
 */
import { expect, test } from 'vitest';
import {
  fromHFConfig,
  type HFConfigFormat,
  ModelFileError,
  registerHFConfigFormat,
  resolveConfig,
  toHFConfig,
} from '../src/index.js';

const format: HFConfigFormat = {
  modelType: 'tiny-test',
  fromHF: (j) => ({
    family: 'llama',
    vocabSize: Number(j.v),
    contextLength: 8,
    nLayers: 1,
    nHeads: 2,
    dModel: 8,
  }),
  toHF: (c) => (c.vocabSize === 17 ? { model_type: 'tiny-test', v: c.vocabSize } : undefined),
};

test('a registered format reads its model_type and writes the configs it describes', () => {
  registerHFConfigFormat(format);
  registerHFConfigFormat(format); // the same object again: a no-op
  const config = fromHFConfig({ model_type: 'tiny-test', v: 17 });
  expect(config.vocabSize).toBe(17);
  expect(toHFConfig(config)).toMatchObject({
    model_type: 'tiny-test',
    v: 17,
    kiln_config: { vocabSize: 17 },
  });
  // a config it does not describe falls through to the built-in keys
  expect(toHFConfig(resolveConfig({ ...config, vocabSize: 18 })).model_type).toBe('llama');
  expect(() => registerHFConfigFormat({ ...format })).toThrow(/already registered/);
  expect(() => registerHFConfigFormat({ ...format, modelType: 'llama' })).toThrow(/built in/);
  expect(() => fromHFConfig({ model_type: 'other' })).toThrow(ModelFileError);
  expect(() => fromHFConfig({ model_type: 'other' })).toThrow(/'tiny-test'/);
});
