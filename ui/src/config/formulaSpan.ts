// Where in a formula a diagnostic points: the character range the editor underlines.
import type { FormulaDiagnostic, SourcePosition } from "@sdk/analytics/type/v1/types_pb.js";

type Span = Pick<FormulaDiagnostic, "start" | "end" | "found">;

/** [start, end) of the text to mark: the reported range, else the token found, else one character. */
export function markedSpan(formula: string, diagnostic: Span): [number, number] {
  const start = Math.min(offsetOf(formula, diagnostic.start), formula.length);
  const reported = diagnostic.end ? offsetOf(formula, diagnostic.end) : 0;
  const end = Math.min(formula.length, reported > start ? reported : start + Math.max(1, diagnostic.found.length));
  return [start, end];
}

/** A position's character offset: its own when given, else from its (1-based) line and column. */
export function offsetOf(formula: string, position: SourcePosition | undefined): number {
  if (!position) return 0;
  if (position.offset > 0 || (position.line <= 1 && position.column <= 1)) return position.offset;
  const lines = formula.split("\n");
  const before = lines.slice(0, Math.max(0, position.line - 1)).reduce((sum, line) => sum + line.length + 1, 0);
  return before + Math.max(0, position.column - 1);
}
