import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FormulaDiagnosticSchema } from "@sdk/analytics/type/v1/types_pb.js";
import { markedSpan, offsetOf } from "./formulaSpan";

const FORMULA = "count(ORDER where statu = 'open')";

describe("where a formula error is marked", () => {
  it("uses the reported offsets", () => {
    const d = create(FormulaDiagnosticSchema, { start: { offset: 18, line: 1, column: 19 }, end: { offset: 23 } });
    const [start, end] = markedSpan(FORMULA, d);
    expect(FORMULA.slice(start, end)).toBe("statu");
  });

  it("falls back to the token found when no end is given", () => {
    const d = create(FormulaDiagnosticSchema, { start: { offset: 18 }, found: "statu" });
    const [start, end] = markedSpan(FORMULA, d);
    expect(FORMULA.slice(start, end)).toBe("statu");
  });

  it("counts lines and columns when there is no offset", () => {
    const text = "sum(ORDER.amount)\n/ counte(ORDER)";
    expect(offsetOf(text, create(FormulaDiagnosticSchema, { start: { line: 2, column: 3 } }).start)).toBe(20);
  });

  it("never runs past the end", () => {
    const d = create(FormulaDiagnosticSchema, { start: { offset: 99 } });
    expect(markedSpan("x +", d)).toEqual([3, 3]);
  });
});
