import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { QuestionSchema } from "@sdk/analytics/config/v1/proposal_pb.js";
import { answerKey, isVisible, shownValue, toAnswerList, type Answers } from "./answers";

const environment = create(QuestionSchema, {
  questionId: "environment",
  defaultValue: { kind: { case: "choice", value: "client_cloud" } },
});
const cloudProvider = create(QuestionSchema, {
  questionId: "cloud_provider",
  visibleIf: { questionId: "environment", values: ["new_cloud"] },
});
const hours = create(QuestionSchema, { questionId: "tm_hours", subject: "ORDER" });
const all = [environment, cloudProvider, hours];

describe("answers", () => {
  it("shows the default until the question is answered", () => {
    expect(shownValue(environment, new Map())).toEqual({ case: "choice", value: "client_cloud" });
    const answers: Answers = new Map([[answerKey("environment", ""), { case: "choice", value: "new_cloud" }]]);
    expect(shownValue(environment, answers)).toEqual({ case: "choice", value: "new_cloud" });
  });

  it("shows a conditional question only when its condition holds", () => {
    expect(isVisible(cloudProvider, all, new Map())).toBe(false);
    const answers: Answers = new Map([[answerKey("environment", ""), { case: "choice", value: "new_cloud" }]]);
    expect(isVisible(cloudProvider, all, answers)).toBe(true);
    expect(isVisible(environment, all, new Map())).toBe(true);
  });

  it("keeps answers per subject and sends them with question and subject", () => {
    const answers: Answers = new Map([[answerKey("tm_hours", "ORDER"), { case: "integer", value: 40n }]]);
    expect(shownValue(hours, answers)).toEqual({ case: "integer", value: 40n });
    expect(toAnswerList(answers)).toEqual([
      { questionId: "tm_hours", subject: "ORDER", value: { kind: { case: "integer", value: 40n } } },
    ]);
  });
});
