/**
 * How optimizers receive parameters: bare `Parameter`s, `[name, Parameter]` pairs (what
 * `module.namedParameters()` returns), or parameter groups with their own weight decay. Names
 * key the optimizer's state in checkpoints, so give real names when you save and resume.
 */
import { Parameter } from '@kiln/autograd';

/** A parameter with its dotted name, as `Module.namedParameters()` returns it. */
export type NamedParameter = readonly [name: string, parameter: Parameter];

/** A set of parameters that share hyperparameters (PyTorch's `param_groups`). */
export interface ParamGroup {
  /** The parameters, bare (named `param.<i>` by position) or with names. */
  params: readonly (Parameter | NamedParameter)[];
  /** Weight decay for this group (default: the optimizer's `weightDecay`). */
  weightDecay?: number;
  /** Multiplies the optimizer's learning rate for this group (default 1). */
  lrScale?: number;
}

/** What optimizer constructors accept: a list of parameters or a list of groups. */
export type ParamsInput = Iterable<Parameter | NamedParameter> | readonly ParamGroup[];

/** A group after validation: every parameter named, every hyperparameter filled in. */
export interface ResolvedParamGroup {
  readonly params: readonly NamedParameter[];
  readonly weightDecay: number;
  readonly lrScale: number;
}

function isGroup(value: unknown): value is ParamGroup {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'params' in value;
}

function checkNonNegative(value: number, what: string, who: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${who}: ${what} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Normalises `input` into named groups and checks it: at least one parameter, every entry a
 * `Parameter`, no parameter listed twice, no name used twice.
 */
export function resolveParamGroups(
  input: ParamsInput,
  defaults: { weightDecay: number },
  who: string,
): ResolvedParamGroup[] {
  const list = [...(input as Iterable<unknown>)];
  const groups: ParamGroup[] =
    list.length > 0 && list.every(isGroup)
      ? (list as ParamGroup[])
      : [{ params: list as ParamGroup['params'] }];
  const seen = new Map<Parameter, string>();
  const names = new Set<string>();
  let position = 0;
  const resolved = groups.map((group, g) => {
    if (!isGroup(group)) throw new TypeError(`${who}: group ${g} must be an object { params: [...] }`);
    const params = [...group.params].map((entry): NamedParameter => {
      const named: NamedParameter =
        entry instanceof Parameter ? [`param.${position}`, entry] : (entry as NamedParameter);
      position++;
      const [name, p] = Array.isArray(named) ? named : [undefined, undefined];
      if (typeof name !== 'string' || !(p instanceof Parameter)) {
        throw new TypeError(
          `${who}: expected Parameters or [name, Parameter] pairs (e.g. model.namedParameters()), got ${String(entry)}`,
        );
      }
      if (seen.has(p))
        throw new Error(
          `${who}: parameter '${name}' is listed twice (also as '${seen.get(p)}'); list each parameter once`,
        );
      if (names.has(name))
        throw new Error(
          `${who}: two parameters are named '${name}'; names key the optimizer state and must be unique`,
        );
      seen.set(p, name);
      names.add(name);
      return [name, p];
    });
    return {
      params,
      weightDecay: checkNonNegative(group.weightDecay ?? defaults.weightDecay, `group ${g} weightDecay`, who),
      lrScale: checkNonNegative(group.lrScale ?? 1, `group ${g} lrScale`, who),
    };
  });
  if (position === 0) throw new RangeError(`${who}: no parameters to optimize`);
  return resolved;
}
