// One questionnaire question as a form control of its type.
import { create } from "@bufbuild/protobuf";
import { ChoiceListSchema, QuestionType, type Question } from "@sdk/analytics/config/v1/proposal_pb.js";
import { formatMoney } from "../common/money";
import type { ValueKind } from "./answers";

export function QuestionInput({ question, value, onChange }: { question: Question; value: ValueKind; onChange: (v: ValueKind) => void }) {
  const id = `q-${question.questionId}-${question.subject}`;
  const label = (
    <span className="question-text">
      {question.text}
      {question.subject && <span className="code"> {question.subject}</span>}
      {question.unit && <span className="muted"> ({question.unit})</span>}
    </span>
  );
  const help = (
    <>
      {question.help && <small className="muted">{question.help}</small>}
      {question.recommendationReason && <small className="recommend">Recommended: {question.recommendationReason}</small>}
    </>
  );
  switch (question.type) {
    case QuestionType.SINGLE_CHOICE:
      return (
        <label className="question" data-question={question.questionId}>
          {label}
          <select id={id} value={value.case === "choice" ? value.value : ""} onChange={(e) => onChange({ case: "choice", value: e.target.value })}>
            <option value="" disabled>
              choose…
            </option>
            {question.options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
                {o.recommended ? " (recommended)" : ""}
                {o.price ? ` — ${formatMoney(o.price)}` : o.hourlyRate ? ` — ${formatMoney(o.hourlyRate)}/h` : ""}
              </option>
            ))}
          </select>
          {help}
        </label>
      );
    case QuestionType.MULTIPLE_CHOICE: {
      const chosen = value.case === "choices" ? value.value.values : [];
      return (
        <fieldset className="question" data-question={question.questionId}>
          <legend>{label}</legend>
          {question.options.map((o) => (
            <label key={o.value} className="inline">
              <input
                type="checkbox"
                checked={chosen.includes(o.value)}
                onChange={(e) => {
                  const next = e.target.checked ? [...chosen, o.value] : chosen.filter((v) => v !== o.value);
                  onChange({ case: "choices", value: create(ChoiceListSchema, { values: next }) });
                }}
              />
              {o.label}
            </label>
          ))}
          {help}
        </fieldset>
      );
    }
    case QuestionType.INTEGER:
      return (
        <label className="question" data-question={question.questionId}>
          {label}
          <input
            id={id}
            type="number"
            step={1}
            min={question.minValue !== undefined ? Number(question.minValue) : undefined}
            max={question.maxValue !== undefined ? Number(question.maxValue) : undefined}
            value={value.case === "integer" ? String(value.value) : ""}
            onChange={(e) => e.target.value !== "" && onChange({ case: "integer", value: BigInt(Math.trunc(Number(e.target.value))) })}
          />
          {help}
        </label>
      );
    case QuestionType.DECIMAL:
      return (
        <label className="question" data-question={question.questionId}>
          {label}
          <input id={id} inputMode="decimal" value={value.case === "decimal" ? value.value : ""} onChange={(e) => onChange({ case: "decimal", value: e.target.value })} />
          {help}
        </label>
      );
    case QuestionType.BOOLEAN:
      return (
        <label className="question inline" data-question={question.questionId}>
          <input type="checkbox" checked={value.case === "boolean" && value.value} onChange={(e) => onChange({ case: "boolean", value: e.target.checked })} />
          {label}
          {help}
        </label>
      );
    default:
      return (
        <label className="question" data-question={question.questionId}>
          {label}
          <input id={id} value={value.case === "text" ? value.value : ""} onChange={(e) => onChange({ case: "text", value: e.target.value })} />
          {help}
        </label>
      );
  }
}
