import { type Arg, type Command, type Node, Parser, type Pipe, type Pos } from './go-template-parse';
import {
  compareBytes,
  formatValue,
  type GoValue,
  GoStruct,
  goTypeName,
  isMap,
  TemplateError,
  truthy,
} from './go-values';

/** A parameter's Go type, checked like reflect does when text/template calls a Go function. */
export type ParamType = 'any' | 'int' | 'string' | 'bool' | 'map' | 'mapOrNil' | 'list';

export interface CallContext {
  /** Helm's include: the named template rendered with `data` as dot. */
  include(name: string, data: GoValue): string;
  /** Helm's tpl: `text` parsed as a template beside the chart's and rendered with `data` as dot. */
  tpl(text: string, data: GoValue): string;
}

export interface FuncSpec {
  params: ParamType[];
  /** The type of the trailing ...args, if the function is variadic. */
  variadic?: ParamType;
  call(args: GoValue[], ctx: CallContext): GoValue;
}

/** `and` / `or`: their arguments are evaluated in order, only as far as needed (Go 1.18). */
export interface LazyFuncSpec {
  lazy: true;
  call(args: Array<() => GoValue>): GoValue;
}

export type FuncTable = ReadonlyMap<string, FuncSpec | LazyFuncSpec>;

/** An error that already names where it happened; passed through by the calls around it. */
export class ExecError extends TemplateError {
  override name = 'ExecError';
}

/** {{break}} and {{continue}} unwinding to their {{range}}. */
class BreakSignal extends Error {}
class ContinueSignal extends Error {}

const MAX_INCLUDE_DEPTH = 1000;

interface State {
  /** The template being executed, for messages. */
  name: string;
  vars: Array<{ name: string; value: GoValue }>;
}

/**
 * A set of named templates (one per chart file, plus every {{define}}), executed with text/template's semantics:
 * missing map keys are nil (Helm's missingkey=zero), a field of nil is an error, structs have no missing fields,
 * `if`/`with`/`range` use Go's truth, `range` over a map goes in sorted key order, variables are scoped to their
 * block (and to one iteration), and an assignment with `=` changes the nearest declaration.
 */
export class TemplateSet {
  private readonly templates = new Map<string, Node[]>();
  private readonly includeDepth = new Map<string, number>();

  constructor(private readonly funcs: FuncTable) {}

  /** Parses `src` as the template `name`; its {{define}}s join the set (a later one replaces an earlier). */
  add(name: string, src: string): void {
    const parsed = new Parser(name, (fn) => this.funcs.has(fn)).parse(src);
    this.templates.set(name, parsed.root);
    for (const [defined, body] of parsed.defines) this.templates.set(defined, body);
  }

  has(name: string): boolean {
    return this.templates.has(name);
  }

  clone(): TemplateSet {
    const copy = new TemplateSet(this.funcs);
    for (const [name, body] of this.templates) copy.templates.set(name, body);
    return copy;
  }

  execute(name: string, data: GoValue): string {
    const body = this.templates.get(name);
    if (!body) throw new TemplateError(`template: no template "${name}" associated with template set`);
    const out: string[] = [];
    const state: State = { name, vars: [{ name: '$', value: data }] };
    try {
      this.walk(state, data, body, out);
    } catch (err) {
      if (err instanceof BreakSignal || err instanceof ContinueSignal) {
        throw new ExecError(`template: ${name}: {{break}} or {{continue}} outside {{range}}`);
      }
      throw err;
    }
    return out.join('');
  }

  /** The call context of the chart functions that render templates. */
  readonly context: CallContext = {
    include: (name, data) => {
      if (!this.templates.has(name)) throw new TemplateError(`template: no template "${name}" associated`);
      const depth = (this.includeDepth.get(name) ?? 0) + 1;
      if (depth > MAX_INCLUDE_DEPTH) {
        throw new TemplateError(`rendering template has a nested reference name: ${name}`);
      }
      this.includeDepth.set(name, depth);
      try {
        return this.execute(name, data);
      } finally {
        this.includeDepth.set(name, depth - 1);
      }
    },
    tpl: (text, data) => {
      const scratch = this.clone();
      const name = `tpl:${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
      scratch.add(name, text);
      return scratch.execute(name, data).replaceAll('<no value>', '');
    },
  };

  private walk(state: State, dot: GoValue, nodes: Node[], out: string[]): void {
    for (const node of nodes) {
      switch (node.t) {
        case 'text':
          out.push(node.text);
          break;
        case 'action': {
          const value = this.pipe(state, dot, node.pipe);
          if (node.pipe.decl.length === 0) out.push(formatValue(value));
          break;
        }
        case 'if':
        case 'with': {
          const mark = state.vars.length;
          const value = this.pipe(state, dot, node.pipe);
          if (truthy(value)) this.walk(state, node.t === 'with' ? value : dot, node.list, out);
          else if (node.elseList) this.walk(state, dot, node.elseList, out);
          state.vars.length = mark;
          break;
        }
        case 'range':
          this.range(state, dot, node, out);
          break;
        case 'template': {
          const body = this.templates.get(node.name);
          if (!body) this.fail(node.pos, `no such template "${node.name}"`);
          const data = node.pipe ? this.pipe(state, dot, node.pipe) : null;
          this.walk({ name: node.name, vars: [{ name: '$', value: data }] }, data, body, out);
          break;
        }
        case 'break':
          throw new BreakSignal();
        case 'continue':
          throw new ContinueSignal();
      }
    }
  }

  private range(
    state: State,
    dot: GoValue,
    node: Extract<Node, { t: 'range' }>,
    out: string[],
  ): void {
    const mark = state.vars.length;
    const value = this.commands(state, dot, node.pipe);
    const { decl } = node.pipe;
    // The declared variables live for the whole range; each iteration sets them, then runs in its own scope.
    if (!node.pipe.isAssign) for (const name of decl) state.vars.push({ name, value: null });
    const iterate = (key: GoValue, elem: GoValue): boolean => {
      if (decl.length === 1) this.setVar(state, decl[0]!, elem, node.pos);
      if (decl.length === 2) {
        this.setVar(state, decl[0]!, key, node.pos);
        this.setVar(state, decl[1]!, elem, node.pos);
      }
      const inner = state.vars.length;
      try {
        this.walk(state, elem, node.list, out);
      } catch (err) {
        if (err instanceof BreakSignal) return false;
        if (!(err instanceof ContinueSignal)) throw err;
      } finally {
        state.vars.length = inner;
      }
      return true;
    };
    let count = 0;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        count++;
        if (!iterate(BigInt(i), value[i]!)) break;
      }
    } else if (isMap(value)) {
      for (const key of [...value.keys()].sort(compareBytes)) {
        count++;
        if (!iterate(key, value.get(key) ?? null)) break;
      }
    } else if (value !== null) {
      this.fail(node.pos, `range can't iterate over ${formatValue(value)}`);
    }
    if (count === 0 && node.elseList) this.walk(state, dot, node.elseList, out);
    state.vars.length = mark;
  }

  /** A pipeline's value, with its declarations made. */
  private pipe(state: State, dot: GoValue, pipe: Pipe): GoValue {
    const value = this.commands(state, dot, pipe);
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(state, name, value, pipe.pos);
      else state.vars.push({ name, value });
    }
    return value;
  }

  private commands(state: State, dot: GoValue, pipe: Pipe): GoValue {
    let value: GoValue | undefined;
    for (const cmd of pipe.cmds) value = this.command(state, dot, cmd, value);
    return value ?? null;
  }

  private setVar(state: State, name: string, value: GoValue, pos: Pos): void {
    for (let i = state.vars.length - 1; i >= 0; i--) {
      if (state.vars[i]!.name === name) {
        state.vars[i]!.value = value;
        return;
      }
    }
    this.fail(pos, `undefined variable: ${name}`);
  }

  private lookupVar(state: State, name: string, pos: Pos): GoValue {
    for (let i = state.vars.length - 1; i >= 0; i--) if (state.vars[i]!.name === name) return state.vars[i]!.value;
    return this.fail(pos, `undefined variable: ${name}`);
  }

  /** One command of a pipeline; `final` is the previous command's value (passed as the last argument). */
  private command(state: State, dot: GoValue, cmd: Command, final: GoValue | undefined): GoValue {
    const [first, ...rest] = cmd.args;
    if (!first) return this.fail(cmd.pos, 'empty command');
    switch (first.t) {
      case 'ident':
        return this.call(state, dot, first.name, rest, final, first.pos);
      case 'field':
        return this.chain(state, dot, dot, first.names, rest, final, first.pos);
      case 'var':
        return this.chain(
          state,
          dot,
          this.lookupVar(state, first.name, first.pos),
          first.fields,
          rest,
          final,
          first.pos,
        );
      case 'paren':
        return this.chain(state, dot, this.pipe(state, dot, first.pipe), first.fields, rest, final, first.pos);
      case 'nil':
        return this.fail(first.pos, 'nil is not a command');
      case 'dot':
      case 'string':
      case 'int':
      case 'float':
      case 'bool':
        if (rest.length > 0 || final !== undefined) {
          this.fail(first.pos, `can't give argument to non-function ${describeArg(first)}`);
        }
        return this.arg(state, dot, first);
    }
  }

  /** An operand used as an argument. A function name alone is a call without arguments (`default dict`). */
  private arg(state: State, dot: GoValue, arg: Arg): GoValue {
    switch (arg.t) {
      case 'dot':
        return dot;
      case 'field':
        return this.chain(state, dot, dot, arg.names, [], undefined, arg.pos);
      case 'var':
        return this.chain(state, dot, this.lookupVar(state, arg.name, arg.pos), arg.fields, [], undefined, arg.pos);
      case 'paren':
        return this.chain(state, dot, this.pipe(state, dot, arg.pipe), arg.fields, [], undefined, arg.pos);
      case 'ident':
        return this.call(state, dot, arg.name, [], undefined, arg.pos);
      case 'string':
      case 'int':
      case 'float':
      case 'bool':
        return arg.value;
      case 'nil':
        return null;
    }
  }

  /** receiver.f1.f2...fn, the last one called with `args` if it is a method. */
  private chain(
    state: State,
    dot: GoValue,
    receiver: GoValue,
    names: string[],
    args: Arg[],
    final: GoValue | undefined,
    pos: Pos,
  ): GoValue {
    const hasArgs = args.length > 0 || final !== undefined;
    if (names.length === 0 && hasArgs) this.fail(pos, `can't give argument to non-function`);
    let value = receiver;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      if (value === null) this.fail(pos, `nil pointer evaluating interface {}.${name}`);
      if (isMap(value)) {
        if (last && hasArgs) this.fail(pos, `${name} is not a method but has arguments`);
        value = value.get(name) ?? null;
        return;
      }
      if (value instanceof GoStruct) {
        const method = value.methods.get(name);
        if (method) {
          const evaluated = args.map((a) => this.arg(state, dot, a));
          if (last && final !== undefined) evaluated.push(final);
          value = this.guard(pos, () => method(last ? evaluated : []));
          return;
        }
        if (!value.fields.has(name)) this.fail(pos, `can't evaluate field ${name} in type ${value.typeName}`);
        if (last && hasArgs) this.fail(pos, `${name} is not a method but has arguments`);
        value = value.fields.get(name) ?? null;
        return;
      }
      this.fail(pos, `can't evaluate field ${name} in type ${goTypeName(value)}`);
    });
    return value;
  }

  private call(
    state: State,
    dot: GoValue,
    name: string,
    argNodes: Arg[],
    final: GoValue | undefined,
    pos: Pos,
  ): GoValue {
    const spec = this.funcs.get(name);
    if (!spec) return this.fail(pos, `function "${name}" not defined`);
    if ('lazy' in spec) {
      const thunks = argNodes.map((a) => () => this.arg(state, dot, a));
      if (final !== undefined) thunks.push(() => final);
      if (thunks.length === 0) this.fail(pos, `wrong number of args for ${name}: want at least 1 got 0`);
      return spec.call(thunks);
    }
    const args = argNodes.map((a) => this.arg(state, dot, a));
    if (final !== undefined) args.push(final);
    const want = spec.params.length;
    if (spec.variadic ? args.length < want : args.length !== want) {
      this.fail(pos, `wrong number of args for ${name}: want ${spec.variadic ? 'at least ' : ''}${want} got ${args.length}`);
    }
    args.forEach((value, i) => {
      const type = spec.params[i] ?? spec.variadic ?? 'any';
      const problem = typeProblem(type, value);
      if (problem) this.fail(pos, `error calling ${name}: wrong type for value; expected ${problem}; got ${goTypeName(value)}`);
    });
    return this.guard(pos, () => spec.call(args, this.context));
  }

  /** Runs a function; its error is reported at the call, as Helm does ("execution error at (file:line:col)"). */
  private guard(pos: Pos, run: () => GoValue): GoValue {
    try {
      return run();
    } catch (err) {
      if (err instanceof ExecError || err instanceof BreakSignal || err instanceof ContinueSignal) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new ExecError(`execution error at (${pos.template}:${pos.line}:${pos.col}): ${message}`);
    }
  }

  private fail(pos: Pos, message: string): never {
    throw new ExecError(`template: ${pos.template}:${pos.line}:${pos.col}: executing: ${message}`);
  }
}

function typeProblem(type: ParamType, value: GoValue): string | undefined {
  switch (type) {
    case 'any':
      return undefined;
    case 'int':
      return typeof value === 'bigint' ? undefined : 'int';
    case 'string':
      return typeof value === 'string' ? undefined : 'string';
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'bool';
    case 'map':
      return isMap(value) ? undefined : 'map[string]interface {}';
    case 'mapOrNil':
      return value === null || isMap(value) ? undefined : 'map[string]interface {}';
    case 'list':
      return Array.isArray(value) ? undefined : '[]interface {}';
  }
}

function describeArg(arg: Arg): string {
  switch (arg.t) {
    case 'string':
      return JSON.stringify(arg.value);
    case 'int':
    case 'float':
    case 'bool':
      return String(arg.value);
    case 'dot':
      return '.';
    case 'field':
    case 'var':
    case 'ident':
    case 'paren':
    case 'nil':
      return arg.t;
  }
}
