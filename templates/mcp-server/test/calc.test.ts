import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcError, evaluate, formatNumber } from "../src/calc.js";

const calc = (expression: string) => formatNumber(evaluate(expression));

test("calculate: precedence, associativity and decimals", () => {
  assert.equal(calc("6*7"), "42");
  assert.equal(calc("1 + 2 * 3"), "7");
  assert.equal(calc("(1 + 2) * 3"), "9");
  assert.equal(calc("2 ^ 3 ^ 2"), "512");
  assert.equal(calc("-2 ^ 2"), "-4");
  assert.equal(calc("2 ^ -1"), "0.5");
  assert.equal(calc("10 % 4"), "2");
  assert.equal(calc("7 / 2"), "3.5");
  assert.equal(calc("0.1 + 0.2"), "0.3");
  assert.equal(calc(".5 * 4"), "2");
  assert.equal(calc("--3"), "3");
  assert.equal(calc("((((1))))"), "1");
  assert.equal(calc("3 × 4 ÷ 2 − 1"), "5");
});

test("calculate: rejects bad input with a clear message", () => {
  const bad: Array<[string, RegExp]> = [
    ["", /empty/],
    ["2 +", /end of expression/],
    ["(1 + 2", /closing/],
    ["1 + 2)", /unexpected "\)"/],
    ["1 / 0", /division by zero/],
    ["5 % 0", /modulo by zero/],
    ["1..2", /unexpected "\."/],
    ["process.exit()", /unexpected character "p"/],
    ["(-8) ^ 0.5", /not a real number/],
    ["10 ^ 400", /not a finite number/],
    ["(".repeat(300) + "1" + ")".repeat(300), /nested too deeply/],
    ["-".repeat(300) + "1", /nested too deeply/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => evaluate(input), (err: unknown) => {
      assert.ok(err instanceof CalcError, `expected CalcError for ${JSON.stringify(input)}`);
      assert.match(err.message, message);
      return true;
    });
  }
});
