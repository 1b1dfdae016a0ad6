/**
 * A tiny, safe arithmetic evaluator (no eval, no Function).
 *
 * Grammar (usual precedence, `^` is right-associative and binds tighter
 * than unary minus, so `-2^2` is -4 and `2^-1` is 0.5):
 *
 *   expression := term (("+" | "-") term)*
 *   term       := unary (("*" | "/" | "%") unary)*
 *   unary      := ("+" | "-") unary | power
 *   power      := primary ("^" unary)?
 *   primary    := number | "(" expression ")"
 *   number     := digits ["." digits] | "." digits
 */

export class CalcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CalcError";
  }
}

export const MAX_EXPRESSION_LENGTH = 1000;
const MAX_DEPTH = 200;

type Token =
  | { kind: "num"; value: number; pos: number }
  | { kind: "op"; value: "+" | "-" | "*" | "/" | "%" | "^" | "(" | ")"; pos: number };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
      i++;
      continue;
    }
    if ((ch >= "0" && ch <= "9") || ch === ".") {
      const start = i;
      let sawDigit = false;
      let sawDot = false;
      while (i < input.length) {
        const c = input[i]!;
        if (c >= "0" && c <= "9") {
          sawDigit = true;
        } else if (c === ".") {
          if (sawDot) throw new CalcError(`unexpected "." at position ${i + 1}`);
          sawDot = true;
        } else {
          break;
        }
        i++;
      }
      const text = input.slice(start, i);
      if (!sawDigit) throw new CalcError(`invalid number "${text}" at position ${start + 1}`);
      tokens.push({ kind: "num", value: Number(text), pos: start });
      continue;
    }
    if ("+-*/%^()".includes(ch)) {
      tokens.push({ kind: "op", value: ch as Extract<Token, { kind: "op" }>["value"], pos: i });
      i++;
      continue;
    }
    // Accept the common typographic operators as a courtesy.
    if (ch === "×") {
      tokens.push({ kind: "op", value: "*", pos: i++ });
      continue;
    }
    if (ch === "÷") {
      tokens.push({ kind: "op", value: "/", pos: i++ });
      continue;
    }
    if (ch === "−") {
      tokens.push({ kind: "op", value: "-", pos: i++ });
      continue;
    }
    throw new CalcError(
      `unexpected character "${ch}" at position ${i + 1}; only numbers, + - * / % ^ and parentheses are allowed`,
    );
  }
  return tokens;
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    if (this.tokens.length === 0) throw new CalcError("empty expression");
    const value = this.expression();
    const extra = this.tokens[this.pos];
    if (extra) {
      throw new CalcError(`unexpected "${tokenText(extra)}" at position ${extra.pos + 1}`);
    }
    return value;
  }

  private peekOp(): string | undefined {
    const t = this.tokens[this.pos];
    return t && t.kind === "op" ? t.value : undefined;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new CalcError("expression is nested too deeply");
  }

  private leave(): void {
    this.depth--;
  }

  private expression(): number {
    this.enter();
    let value = this.term();
    for (let op = this.peekOp(); op === "+" || op === "-"; op = this.peekOp()) {
      this.pos++;
      const rhs = this.term();
      value = op === "+" ? value + rhs : value - rhs;
    }
    this.leave();
    return value;
  }

  private term(): number {
    let value = this.unary();
    for (let op = this.peekOp(); op === "*" || op === "/" || op === "%"; op = this.peekOp()) {
      this.pos++;
      const rhs = this.unary();
      if ((op === "/" || op === "%") && rhs === 0) {
        throw new CalcError(op === "/" ? "division by zero" : "modulo by zero");
      }
      value = op === "*" ? value * rhs : op === "/" ? value / rhs : value % rhs;
    }
    return value;
  }

  private unary(): number {
    const op = this.peekOp();
    if (op === "+" || op === "-") {
      this.pos++;
      this.enter();
      const value = this.unary();
      this.leave();
      return op === "-" ? -value : value;
    }
    return this.power();
  }

  private power(): number {
    const base = this.primary();
    if (this.peekOp() === "^") {
      this.pos++;
      this.enter();
      const exponent = this.unary();
      this.leave();
      const value = Math.pow(base, exponent);
      if (Number.isNaN(value)) {
        throw new CalcError(`${base} ^ ${exponent} is not a real number`);
      }
      return value;
    }
    return base;
  }

  private primary(): number {
    const t = this.tokens[this.pos];
    if (!t) throw new CalcError("unexpected end of expression");
    if (t.kind === "num") {
      this.pos++;
      return t.value;
    }
    if (t.value === "(") {
      this.pos++;
      const value = this.expression();
      const close = this.tokens[this.pos];
      if (!close || close.kind !== "op" || close.value !== ")") {
        throw new CalcError(
          close ? `expected ")" at position ${close.pos + 1}` : 'missing closing ")"',
        );
      }
      this.pos++;
      return value;
    }
    throw new CalcError(`unexpected "${tokenText(t)}" at position ${t.pos + 1}`);
  }
}

function tokenText(t: Token): string {
  return t.kind === "num" ? String(t.value) : t.value;
}

/** Evaluates an arithmetic expression; throws CalcError on bad input. */
export function evaluate(expression: string): number {
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new CalcError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const value = new Parser(tokenize(expression)).parse();
  if (!Number.isFinite(value)) throw new CalcError("result is not a finite number");
  return value;
}

/** Formats a result without binary floating-point noise (0.1+0.2 -> "0.3"). */
export function formatNumber(value: number): string {
  if (Object.is(value, -0)) return "0";
  if (Number.isInteger(value) && Math.abs(value) < Number.MAX_SAFE_INTEGER) return String(value);
  return String(Number(value.toPrecision(15)));
}
