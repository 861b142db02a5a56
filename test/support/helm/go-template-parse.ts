import { TemplateError } from './go-values';

/**
 * Lexer and parser for Go's text/template language (the subset charts use): text and {{ actions }} with the
 * `{{- ` / ` -}}` trim markers and comments; pipelines with `|`, parenthesised pipelines, field chains
 * (.a.b, $x.a, (pipe).a), variables ($, $x := / $x = and `range $k, $v :=`), string (interpreted and raw), number,
 * bool and nil literals; the actions if / else if / else, with / else with / else, range / else, define,
 * template, block, break, continue and end. As in Go, a call of a function that is not defined is a parse
 * error, whether or not the branch holding it would run.
 */

export interface Pos {
  template: string;
  line: number;
  col: number;
}

export type Arg =
  | { t: 'dot'; pos: Pos }
  | { t: 'field'; names: string[]; pos: Pos } // .a.b, relative to dot
  | { t: 'var'; name: string; fields: string[]; pos: Pos } // $x.a.b
  | { t: 'ident'; name: string; pos: Pos } // a function
  | { t: 'paren'; pipe: Pipe; fields: string[]; pos: Pos } // (pipe).a.b
  | { t: 'string'; value: string; pos: Pos }
  | { t: 'int'; value: bigint; pos: Pos }
  | { t: 'float'; value: number; pos: Pos }
  | { t: 'bool'; value: boolean; pos: Pos }
  | { t: 'nil'; pos: Pos };

export interface Command {
  args: Arg[];
  pos: Pos;
}

export interface Pipe {
  /** Variables declared (`:=`) or assigned (`=`) by this pipeline. */
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
  pos: Pos;
}

export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipe; pos: Pos }
  | { t: 'if' | 'with'; pipe: Pipe; list: Node[]; elseList: Node[] | null; pos: Pos }
  | { t: 'range'; pipe: Pipe; list: Node[]; elseList: Node[] | null; pos: Pos }
  | { t: 'template'; name: string; pipe: Pipe | null; pos: Pos }
  | { t: 'break' | 'continue'; pos: Pos };

export interface ParsedFile {
  /** The file's own body (what rendering it prints). */
  root: Node[];
  /** Templates it defines ({{ define }} and {{ block }}). */
  defines: Map<string, Node[]>;
}

type Tok =
  | { k: 'text'; v: string; pos: Pos }
  | { k: 'open'; pos: Pos }
  | { k: 'close'; pos: Pos }
  | { k: 'str'; v: string; pos: Pos; space: boolean }
  | { k: 'int'; v: bigint; pos: Pos; space: boolean }
  | { k: 'float'; v: number; pos: Pos; space: boolean }
  | { k: 'ident'; v: string; pos: Pos; space: boolean }
  | { k: 'field'; v: string; pos: Pos; space: boolean }
  | { k: 'var'; v: string; pos: Pos; space: boolean }
  | { k: 'dot'; pos: Pos; space: boolean }
  | { k: 'punct'; v: '|' | '(' | ')' | ',' | ':=' | '='; pos: Pos; space: boolean };

const KEYWORDS = new Set([
  'if',
  'else',
  'end',
  'range',
  'with',
  'define',
  'template',
  'block',
  'break',
  'continue',
]);

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}
function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}
function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  readonly toks: Tok[] = [];

  constructor(
    private readonly src: string,
    private readonly name: string,
  ) {}

  private pos(at = this.i): Pos {
    // Lines are counted as the scan advances; `at` is never before lineStart for the positions asked.
    return { template: this.name, line: this.line, col: at - this.lineStart + 1 };
  }

  private fail(message: string, at = this.i): never {
    const p = this.pos(at);
    throw new TemplateError(`template: ${p.template}:${p.line}:${p.col}: ${message}`);
  }

  private advance(n: number): void {
    for (let j = 0; j < n; j++) {
      if (this.src[this.i] === '\n') {
        this.line++;
        this.lineStart = this.i + 1;
      }
      this.i++;
    }
  }

  run(): Tok[] {
    let trimNext = false;
    while (this.i < this.src.length) {
      const open = this.src.indexOf('{{', this.i);
      const end = open === -1 ? this.src.length : open;
      let text = this.src.slice(this.i, end);
      const textPos = this.pos();
      if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
      const trimLeft = open !== -1 && this.src[open + 2] === '-' && isSpace(this.src[open + 3]);
      if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
      if (text) this.toks.push({ k: 'text', v: text, pos: textPos });
      this.advance(end - this.i);
      if (open === -1) break;
      const openPos = this.pos();
      this.advance(trimLeft ? 4 : 2);
      trimNext = this.action(openPos);
    }
    return this.toks;
  }

  /** Lexes one action after its `{{` (and trim marker); returns whether it ended with ` -}}`. */
  private action(openPos: Pos): boolean {
    // A comment: {{/* ... */}}, optionally with trim markers; nothing else may share the action.
    let j = this.i;
    while (isSpace(this.src[j])) j++;
    if (this.src.startsWith('/*', j)) {
      const close = this.src.indexOf('*/', j + 2);
      if (close === -1) this.fail('unclosed comment');
      this.advance(close + 2 - this.i);
      if (this.src.startsWith(' -}}', this.i)) {
        this.advance(4);
        return true;
      }
      if (this.src.startsWith('}}', this.i)) {
        this.advance(2);
        return false;
      }
      this.fail('comment ends before closing delimiter');
    }
    this.toks.push({ k: 'open', pos: openPos });
    let space = true;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail('unclosed action', this.i);
      if (isSpace(c)) {
        if (this.src[this.i + 1] === '-' && this.src.startsWith('}}', this.i + 2)) {
          this.toks.push({ k: 'close', pos: this.pos() });
          this.advance(4);
          return true;
        }
        this.advance(1);
        space = true;
        continue;
      }
      if (this.src.startsWith('}}', this.i)) {
        this.toks.push({ k: 'close', pos: this.pos() });
        this.advance(2);
        return false;
      }
      const pos = this.pos();
      if (c === '"') this.toks.push({ k: 'str', v: this.quoted(), pos, space });
      else if (c === '`') {
        const close = this.src.indexOf('`', this.i + 1);
        if (close === -1) this.fail('unterminated raw quoted string');
        const v = this.src.slice(this.i + 1, close);
        this.advance(close + 1 - this.i);
        this.toks.push({ k: 'str', v, pos, space });
      } else if (c === "'") this.fail('character constants are not supported by this renderer');
      else if (c === ':' && this.src[this.i + 1] === '=') {
        this.advance(2);
        this.toks.push({ k: 'punct', v: ':=', pos, space });
      } else if (c === '|' || c === '(' || c === ')' || c === ',' || c === '=') {
        this.advance(1);
        this.toks.push({ k: 'punct', v: c, pos, space });
      } else if (c === '$') {
        let j = this.i + 1;
        while (isAlnum(this.src[j])) j++;
        const v = this.src.slice(this.i, j);
        this.advance(j - this.i);
        this.toks.push({ k: 'var', v, pos, space });
      } else if (c === '.' && isAlnum(this.src[this.i + 1]) && !isDigit(this.src[this.i + 1])) {
        let j = this.i + 1;
        while (isAlnum(this.src[j])) j++;
        const v = this.src.slice(this.i + 1, j);
        this.advance(j - this.i);
        this.toks.push({ k: 'field', v, pos, space });
      } else if (isDigit(c) || ((c === '-' || c === '+' || c === '.') && isDigit(this.src[this.i + 1]))) {
        this.number(pos, space);
      } else if (c === '.') {
        this.advance(1);
        this.toks.push({ k: 'dot', pos, space });
      } else if (/[A-Za-z_]/.test(c)) {
        let j = this.i;
        while (isAlnum(this.src[j])) j++;
        const v = this.src.slice(this.i, j);
        this.advance(j - this.i);
        this.toks.push({ k: 'ident', v, pos, space });
      } else this.fail(`unexpected ${JSON.stringify(c)} in action`);
      space = false;
    }
  }

  private number(pos: Pos, space: boolean): void {
    const m = /^[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9_]*\.?[0-9_]*([eE][+-]?[0-9]+)?)/.exec(
      this.src.slice(this.i),
    );
    const text = m?.[0] ?? '';
    if (isAlnum(this.src[this.i + text.length])) this.fail(`bad number syntax: ${JSON.stringify(text)}`);
    this.advance(text.length);
    const clean = text.replace(/_/g, '');
    const radix = /^[+-]?0[xXoObB]/.test(clean);
    if (radix || /^[+-]?[0-9]+$/.test(clean)) {
      const negative = clean.startsWith('-');
      const body = clean.replace(/^[+-]/, '');
      const v = BigInt(body.replace(/^0[oO]/, '0o').replace(/^0[bB]/, '0b').replace(/^0[xX]/, '0x'));
      this.toks.push({ k: 'int', v: negative ? -v : v, pos, space });
    } else {
      const v = Number(clean);
      if (Number.isNaN(v)) this.fail(`bad number syntax: ${JSON.stringify(text)}`);
      this.toks.push({ k: 'float', v, pos, space });
    }
  }

  /** An interpreted string literal, with Go's escapes (strconv.Unquote). */
  private quoted(): string {
    let out = '';
    this.advance(1);
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined || c === '\n') this.fail('unterminated quoted string');
      if (c === '"') {
        this.advance(1);
        return out;
      }
      if (c !== '\\') {
        out += c;
        this.advance(1);
        continue;
      }
      const e = this.src[this.i + 1];
      const simple: Record<string, string> = {
        a: '\x07',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
        v: '\v',
        '\\': '\\',
        '"': '"',
      };
      if (e !== undefined && simple[e] !== undefined) {
        out += simple[e];
        this.advance(2);
        continue;
      }
      const hex = (n: number): void => {
        const digits = this.src.slice(this.i + 2, this.i + 2 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) this.fail('invalid escape in quoted string');
        out += String.fromCodePoint(parseInt(digits, 16));
        this.advance(2 + n);
      };
      if (e === 'x') hex(2);
      else if (e === 'u') hex(4);
      else if (e === 'U') hex(8);
      else if (e !== undefined && /[0-7]/.test(e)) {
        const digits = this.src.slice(this.i + 1, this.i + 4);
        if (!/^[0-7]{3}$/.test(digits)) this.fail('invalid escape in quoted string');
        out += String.fromCharCode(parseInt(digits, 8));
        this.advance(4);
      } else this.fail('invalid escape in quoted string');
    }
  }
}

export class Parser {
  private i = 0;
  private toks: Tok[] = [];
  private defines = new Map<string, Node[]>();
  /** Variables in scope while parsing (Go checks them at parse time). */
  private vars: string[] = [];

  constructor(
    private readonly name: string,
    private readonly isFunction: (name: string) => boolean,
  ) {}

  parse(src: string): ParsedFile {
    this.toks = new Lexer(src, this.name).run();
    this.i = 0;
    this.defines = new Map();
    this.vars = ['$'];
    const root = this.list(new Set(), true).nodes;
    if (this.i < this.toks.length) this.fail(this.toks[this.i]!.pos, 'unexpected token after the template');
    return { root, defines: this.defines };
  }

  private fail(pos: Pos, message: string): never {
    throw new TemplateError(`template: ${pos.template}:${pos.line}:${pos.col}: ${message}`);
  }

  private peek(offset = 0): Tok | undefined {
    return this.toks[this.i + offset];
  }

  private next(): Tok {
    const tok = this.toks[this.i++];
    if (!tok) {
      const last = this.toks[this.toks.length - 1];
      this.fail(last?.pos ?? { template: this.name, line: 1, col: 1 }, 'unexpected end of template');
    }
    return tok;
  }

  private expectClose(context: string): void {
    const tok = this.next();
    if (tok.k !== 'close') this.fail(tok.pos, `unexpected token in ${context}`);
  }

  /** The keyword of the action starting at the cursor (which is at an `open`), if any. */
  private keywordAt(): string | undefined {
    const tok = this.peek(1);
    return tok?.k === 'ident' && KEYWORDS.has(tok.v) ? tok.v : undefined;
  }

  /** Nodes until one of `stops` ({{end}}, {{else}}) — which is left unconsumed after its `open`. */
  private list(stops: Set<string>, top = false): { nodes: Node[]; stop?: string } {
    const nodes: Node[] = [];
    while (this.i < this.toks.length) {
      const tok = this.peek()!;
      if (tok.k === 'text') {
        nodes.push({ t: 'text', text: tok.v });
        this.i++;
        continue;
      }
      if (tok.k !== 'open') this.fail(tok.pos, 'unexpected token');
      const keyword = this.keywordAt();
      if (keyword && stops.has(keyword)) {
        this.i += 2;
        return { nodes, stop: keyword };
      }
      if (keyword === 'end' || keyword === 'else') this.fail(tok.pos, `unexpected {{${keyword}}}`);
      this.i++;
      const node = this.action(tok.pos, keyword, top);
      if (node) nodes.push(node);
    }
    if (!top) this.fail(this.toks[this.toks.length - 1]?.pos ?? tok0(this.name), 'unexpected EOF');
    return { nodes };
  }

  private action(pos: Pos, keyword: string | undefined, top: boolean): Node | null {
    switch (keyword) {
      case undefined: {
        const pipe = this.pipeline('command', true);
        this.expectClose('command');
        return { t: 'action', pipe, pos };
      }
      case 'if':
      case 'with':
      case 'range':
        this.i++;
        return this.control(keyword, pos);
      case 'define': {
        this.i++;
        if (!top) this.fail(pos, 'define is only allowed at the top level');
        const name = this.templateName();
        this.expectClose('define');
        this.defineBody(name);
        return null;
      }
      case 'block': {
        this.i++;
        const name = this.templateName();
        const pipe = this.pipeline('block', false);
        this.expectClose('block');
        this.defineBody(name);
        return { t: 'template', name, pipe, pos };
      }
      case 'template': {
        this.i++;
        const name = this.templateName();
        const pipe = this.peek()?.k === 'close' ? null : this.pipeline('template', false);
        this.expectClose('template');
        return { t: 'template', name, pipe, pos };
      }
      case 'break':
      case 'continue':
        this.i++;
        this.expectClose(keyword);
        return { t: keyword, pos };
      default:
        this.fail(pos, `unexpected keyword ${keyword}`);
    }
  }

  /** The body of {{ define name }} or {{ block name }}, to its {{ end }}: its own variable scope ($ only). */
  private defineBody(name: string): void {
    const saved = this.vars;
    this.vars = ['$'];
    const body = this.list(new Set(['end'])).nodes;
    this.vars = saved;
    this.expectClose('end');
    this.defines.set(name, body);
  }

  private templateName(): string {
    const tok = this.next();
    if (tok.k !== 'str') this.fail(tok.pos, 'template name must be a string');
    return tok.v;
  }

  private control(kind: 'if' | 'with' | 'range', pos: Pos): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(kind, true, kind === 'range');
    this.expectClose(kind);
    const body = this.list(new Set(['end', 'else']));
    let elseList: Node[] | null = null;
    if (body.stop === 'else') {
      const chained = this.peek();
      if (chained?.k === 'ident' && (chained.v === 'if' || chained.v === 'with') && kind !== 'range') {
        if (chained.v !== kind) this.fail(chained.pos, `{{else ${chained.v}}} inside {{${kind}}}`);
        this.i++;
        // {{else if ...}} is an {{if}} inside the else branch, closed by the same {{end}}.
        elseList = [this.control(kind, chained.pos)];
      } else {
        this.expectClose('else');
        elseList = this.list(new Set(['end'])).nodes;
        this.expectClose('end');
      }
    } else this.expectClose('end');
    this.vars.length = mark;
    return { t: kind, pipe, list: body.nodes, elseList, pos };
  }

  private pipeline(context: string, allowDecl: boolean, range = false): Pipe {
    const start = this.peek();
    const pos = start?.pos ?? tok0(this.name);
    const decl: string[] = [];
    let isAssign = false;
    // Declarations: $x := / $x = / (range) $k, $v :=
    if (start?.k === 'var') {
      const after = this.peek(1);
      if (after?.k === 'punct' && (after.v === ':=' || after.v === '=')) {
        decl.push(start.v);
        isAssign = after.v === '=';
        this.i += 2;
      } else if (range && after?.k === 'punct' && after.v === ',') {
        const second = this.peek(2);
        const op = this.peek(3);
        if (second?.k !== 'var' || op?.k !== 'punct' || (op.v !== ':=' && op.v !== '=')) {
          this.fail(after.pos, 'range can only initialize variables as $k, $v :=');
        }
        decl.push(start.v, second.v);
        isAssign = op.v === '=';
        this.i += 4;
      }
    }
    if (decl.length > 0 && !allowDecl) this.fail(pos, `cannot declare variables in ${context}`);
    if (isAssign) for (const v of decl) if (!this.vars.includes(v)) this.fail(pos, `undefined variable "${v}"`);
    const cmds: Command[] = [];
    for (;;) {
      cmds.push(this.command());
      const tok = this.peek();
      if (tok?.k === 'punct' && tok.v === '|') {
        this.i++;
        continue;
      }
      break;
    }
    if (!isAssign) this.vars.push(...decl);
    return { decl, isAssign, cmds, pos };
  }

  private command(): Command {
    const first = this.peek();
    const pos = first?.pos ?? tok0(this.name);
    const args: Arg[] = [];
    for (;;) {
      const tok = this.peek();
      if (!tok || tok.k === 'close' || (tok.k === 'punct' && (tok.v === '|' || tok.v === ')'))) break;
      if (args.length > 0 && !('space' in tok && tok.space)) this.fail(tok.pos, 'missing space between operands');
      args.push(this.operand());
    }
    if (args.length === 0) this.fail(pos, 'missing value for command');
    return { args, pos };
  }

  /** A term and the fields chained right after it, without space. */
  private operand(): Arg {
    const term = this.term();
    const fields: string[] = [];
    for (let tok = this.peek(); tok?.k === 'field' && !tok.space; tok = this.peek()) {
      fields.push(tok.v);
      this.i++;
    }
    if (fields.length === 0) return term;
    switch (term.t) {
      case 'field':
        return { ...term, names: [...term.names, ...fields] };
      case 'var':
        return { ...term, fields: [...term.fields, ...fields] };
      case 'paren':
        return { ...term, fields: [...term.fields, ...fields] };
      case 'dot':
        return this.fail(term.pos, 'unexpected . after term "."');
      case 'ident':
      case 'string':
      case 'int':
      case 'float':
      case 'bool':
      case 'nil':
        return this.fail(term.pos, `unexpected field after ${term.t}`);
    }
  }

  private term(): Arg {
    const tok = this.next();
    const pos = tok.pos;
    switch (tok.k) {
      case 'dot':
        return { t: 'dot', pos };
      case 'field':
        return { t: 'field', names: [tok.v], pos };
      case 'var':
        if (!this.vars.includes(tok.v)) this.fail(pos, `undefined variable "${tok.v}"`);
        return { t: 'var', name: tok.v, fields: [], pos };
      case 'str':
        return { t: 'string', value: tok.v, pos };
      case 'int':
        return { t: 'int', value: tok.v, pos };
      case 'float':
        return { t: 'float', value: tok.v, pos };
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') return { t: 'bool', value: tok.v === 'true', pos };
        if (tok.v === 'nil') return { t: 'nil', pos };
        if (KEYWORDS.has(tok.v)) this.fail(pos, `unexpected keyword ${tok.v} in operand`);
        if (!this.isFunction(tok.v)) this.fail(pos, `function "${tok.v}" not defined`);
        return { t: 'ident', name: tok.v, pos };
      case 'punct':
        if (tok.v === '(') {
          const pipe = this.pipeline('parenthesized pipeline', false);
          const close = this.next();
          if (close.k !== 'punct' || close.v !== ')') this.fail(close.pos, 'unclosed left paren');
          return { t: 'paren', pipe, fields: [], pos };
        }
        return this.fail(pos, `unexpected "${tok.v}" in operand`);
      case 'open':
      case 'close':
      case 'text':
        return this.fail(pos, `unexpected ${tok.k} in operand`);
    }
  }
}

function tok0(name: string): Pos {
  return { template: name, line: 1, col: 1 };
}
