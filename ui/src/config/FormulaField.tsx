// A formula editor that validates as you type and marks each problem where it is.
import { useEffect, useState } from "react";
import type { ValidateFormulaResponse } from "@sdk/analytics/calculation/v1/calculation_pb.js";
import { DiagnosticSeverity, type FormulaDiagnostic } from "@sdk/analytics/type/v1/types_pb.js";
import { calculation } from "../api/clients";
import { errorText } from "../common/format";
import { markedSpan } from "./formulaSpan";

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
  const [start, end] = markedSpan(formula, diagnostic);
  return (
    <pre className="formula-marked">
      {formula.slice(0, start)}
      <mark data-testid="formula-error-span">{formula.slice(start, end) || " "}</mark>
      {formula.slice(end)}
    </pre>
  );
}
