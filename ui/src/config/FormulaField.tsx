// A formula editor that validates as you type and marks each problem where it is.
import { useEffect, useState } from "react";
import type { ValidateFormulaResponse } from "@sdk/analytics/calculation/v1/calculation_pb.js";
import { DiagnosticSeverity, type FormulaDiagnostic, type SourcePosition } from "@sdk/analytics/type/v1/types_pb.js";
import { calculation } from "../api/clients";
import { errorText } from "../common/format";

export function FormulaField({ value, onChange, clientId }: { value: string; onChange: (v: string) => void; clientId: string }) {
  const [result, setResult] = useState<ValidateFormulaResponse>();
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    if (!value.trim()) {
      setResult(undefined);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      calculation.validateFormula({ formula: value, clientId }, { signal: controller.signal }).then(
        (reply) => {
          setResult(reply);
          setProblem(undefined);
        },
        (error: unknown) => !controller.signal.aborted && setProblem(errorText(error)),
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [value, clientId]);

  return (
    <div className="formula-field">
      <textarea name="formula" rows={4} spellCheck={false} value={value} onChange={(e) => onChange(e.target.value)} />
      {problem && <p className="error">{problem}</p>}
      {result && result.valid && (
        <p className="ok" data-testid="formula-valid">
          Valid — reads {result.objectModelCodes.join(", ") || "no object model"}
        </p>
      )}
      {result && result.diagnostics.length > 0 && (
        <ul className="diagnostics" data-testid="formula-diagnostics">
          {result.diagnostics.map((d, i) => (
            <li key={i} className={d.severity === DiagnosticSeverity.WARNING ? "warning" : "error-text"}>
              <Marked formula={value} diagnostic={d} />
              <div>
                {d.message.startsWith("line ") ? "" : `line ${d.start?.line ?? "?"}, column ${d.start?.column ?? "?"}: `}
                {d.message}
                {d.expected.length > 0 && <span className="muted"> (expected {d.expected.join(", ")})</span>}
                {d.suggestions.length > 0 && <span className="muted"> — did you mean {d.suggestions.join(", ")}?</span>}
              </div>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The formula with the diagnostic's span underlined. */
function Marked({ formula, diagnostic }: { formula: string; diagnostic: FormulaDiagnostic }) {
  const start = Math.min(offsetOf(formula, diagnostic.start), formula.length);
  const reported = diagnostic.end ? offsetOf(formula, diagnostic.end) : 0;
  const end = Math.min(formula.length, reported > start ? reported : start + Math.max(1, diagnostic.found.length));
  return (
    <pre className="formula-marked">
      {formula.slice(0, start)}
      <mark data-testid="formula-error-span">{formula.slice(start, end) || " "}</mark>
      {formula.slice(end)}
    </pre>
  );
}

/** A position's character offset: its own when given, else from its (1-based) line and column. */
function offsetOf(formula: string, position: SourcePosition | undefined): number {
  if (!position) return 0;
  if (position.offset > 0 || (position.line <= 1 && position.column <= 1)) return position.offset;
  const lines = formula.split("\n");
  const before = lines.slice(0, Math.max(0, position.line - 1)).reduce((sum, line) => sum + line.length + 1, 0);
  return before + Math.max(0, position.column - 1);
}
