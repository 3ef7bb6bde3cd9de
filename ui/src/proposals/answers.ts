// Questionnaire answers, keyed by question and subject (a question may be asked per KPI or per
// object model), and the rules for which value a question shows and whether it applies.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type AnswerSchema,
  type AnswerValue,
  type Question,
  type QuestionCondition,
} from "@sdk/analytics/config/v1/proposal_pb.js";

export type AnswerInit = MessageInitShape<typeof AnswerSchema>;
export type ValueKind = AnswerValue["kind"];
export type Answers = ReadonlyMap<string, ValueKind>;

export function answerKey(questionId: string, subject: string): string {
  return `${questionId}|${subject}`;
}

/** The answer given, else the question's default (what the service prices if left alone). */
export function shownValue(question: Question, answers: Answers): ValueKind {
  return answers.get(answerKey(question.questionId, question.subject)) ?? question.defaultValue?.kind ?? { case: undefined };
}

function asStrings(kind: ValueKind): string[] {
  switch (kind.case) {
    case "choice":
    case "text":
    case "decimal":
      return [kind.value];
    case "choices":
      return kind.value.values;
    case "integer":
      return [String(kind.value)];
    case "boolean":
      return [String(kind.value)];
    default:
      return [];
  }
}

export function isVisible(question: Question, all: Question[], answers: Answers): boolean {
  const condition: QuestionCondition | undefined = question.visibleIf;
  if (!condition || !condition.questionId) return true;
  const other = all.find((q) => q.questionId === condition.questionId && q.subject === condition.subject);
  const value = other
    ? shownValue(other, answers)
    : answers.get(answerKey(condition.questionId, condition.subject)) ?? { case: undefined };
  return asStrings(value).some((v) => condition.values.includes(v));
}

export function toAnswerList(answers: Answers): AnswerInit[] {
  return [...answers.entries()].map(([key, kind]) => {
    const [questionId, subject] = key.split("|");
    return { questionId, subject, value: { kind } };
  });
}
