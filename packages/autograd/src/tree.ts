/**
 * Nested arguments ("pytrees"): a tensor, a Module (its parameters by name), or arrays and
 * plain objects of those. `grad` differentiates with respect to every tensor in such a value
 * and returns gradients in the same structure.
 */
import { Tensor } from '@kiln/tensor';
import { Module } from './module.js';

/** A tensor found in a nested value, with a readable path for error messages. */
export interface TreeLeaf {
  readonly path: string;
  readonly tensor: Tensor;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

/** Every tensor in `value`, depth first. Throws on anything that is not a tensor, Module, array or plain object. */
export function flattenTree(value: unknown, path: string, who: string): TreeLeaf[] {
  const out: TreeLeaf[] = [];
  const walk = (v: unknown, p: string): void => {
    if (v instanceof Tensor) {
      out.push({ path: p, tensor: v });
    } else if (v instanceof Module) {
      for (const [name, t] of v.namedParameters()) out.push({ path: `${p}.${name}`, tensor: t });
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${p}[${i}]`);
    } else if (isPlainObject(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
    } else {
      throw new TypeError(
        `${who}: ${p} is ${v === null ? 'null' : typeof v}; differentiated arguments may only hold tensors, Modules, arrays and plain objects (pass other data through an argument not listed in argnums)`,
      );
    }
  };
  walk(value, path);
  return out;
}

/** `value` with every tensor replaced by `fn(tensor)`; a Module becomes a { name: result } record. */
export function mapTree(value: unknown, fn: (t: Tensor) => unknown): unknown {
  if (value instanceof Tensor) return fn(value);
  if (value instanceof Module)
    return Object.fromEntries(value.namedParameters().map(([name, t]) => [name, fn(t)]));
  if (Array.isArray(value)) return value.map((x) => mapTree(x, fn));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, x]) => [k, mapTree(x, fn)]),
  );
}
