// The proposal wizard: the questionnaire's eight steps for a client (or the cart's KPIs), a
// running total priced by the proposal service as answers change, then the proposal document,
// shown and downloadable.
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { GetQuestionnaireResponse, ServiceProposal } from "@sdk/analytics/config/v1/proposal_pb.js";
import { proposals } from "../api/clients";
import { useCart } from "../common/cart";
import { FormError } from "../common/FieldErrors";
import { Loading } from "../common/Status";
import { answerKey, isVisible, shownValue, toAnswerList, type Answers, type ValueKind } from "./answers";
import { ProposalDocument, Totals } from "./ProposalDocument";
import { QuestionInput } from "./QuestionInput";

const PRICE_DELAY_MS = 250;

export function ProposalWizard() {
  const [params] = useSearchParams();
  const clientId = params.get("client") ?? "";
  const [cart] = useCart();
  const kpiCodes = useMemo(() => (clientId ? [] : cart), [clientId, cart]);
  const [answers, setAnswers] = useState<Answers>(new Map());
  const [questionnaire, setQuestionnaire] = useState<GetQuestionnaireResponse>();
  const [estimate, setEstimate] = useState<ServiceProposal>();
  const [pricing, setPricing] = useState(false);
  const [problem, setProblem] = useState<unknown>();
  const [step, setStep] = useState(0);
  const [proposal, setProposal] = useState<ServiceProposal>();
  const [submitting, setSubmitting] = useState(false);

  // Every change of answers: the questionnaire as it now applies, then its price.
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      setPricing(true);
      try {
        const reply = await proposals.getQuestionnaire(
          { clientId, kpiCodes, answers: toAnswerList(answers) },
          { signal: controller.signal },
        );
        // The proposal is for the client the wizard was opened for (an admin must say which).
        if (reply.inputs && !reply.inputs.clientId) reply.inputs.clientId = clientId;
        setQuestionnaire(reply);
        const priced = await proposals.createProposal({ inputs: reply.inputs, validateOnly: true }, { signal: controller.signal });
        setEstimate(priced.proposal);
        setProblem(undefined);
      } catch (error) {
        if (!controller.signal.aborted) setProblem(error);
      } finally {
        if (!controller.signal.aborted) setPricing(false);
      }
    }, PRICE_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [clientId, kpiCodes, answers]);

  if (proposal) {
    return (
      <>
        <p className="breadcrumbs">
          <Link to={`/proposals?client=${proposal.clientId}`}>All proposals of {proposal.clientId}</Link>
        </p>
        <ProposalDocument proposal={proposal} />
      </>
    );
  }
  if (!questionnaire) {
    return problem !== undefined ? <FormError error={problem} /> : <Loading what="questionnaire" />;
  }
  const steps = questionnaire.steps;
  const section = steps[Math.min(step, steps.length - 1)];
  const all = steps.flatMap((s) => s.questions);
  const answer = (questionId: string, subject: string, value: ValueKind) =>
    setAnswers((previous) => new Map(previous).set(answerKey(questionId, subject), value));

  const submit = async () => {
    setSubmitting(true);
    try {
      const created = await proposals.createProposal({ inputs: questionnaire.inputs });
      setProposal(created.proposal);
    } catch (error) {
      setProblem(error);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div className="wizard">
      <header className="toolbar">
        <h1>Service proposal {clientId && <span className="code">for {clientId}</span>}</h1>
      </header>
      <ol className="steps">
        {steps.map((s, i) => (
          <li key={s.step} className={i === step ? "active" : i < step ? "done" : ""}>
            <button type="button" className="link" onClick={() => setStep(i)}>
              {i + 1}. {s.title}
            </button>
          </li>
        ))}
      </ol>
      <div className="wizard-body">
        <section className="card form" data-testid="wizard-step" data-step={step + 1}>
          <h2>
            Step {step + 1} of {steps.length}: {section.title}
          </h2>
          {section.description && <p className="muted">{section.description}</p>}
          {section.questions
            .filter((q) => isVisible(q, all, answers))
            .map((q) => (
              <QuestionInput
                key={`${q.questionId}|${q.subject}`}
                question={q}
                value={shownValue(q, answers)}
                onChange={(value) => answer(q.questionId, q.subject, value)}
              />
            ))}
          {section.questions.length === 0 && <p className="muted">Nothing to answer here.</p>}
          <div className="actions">
            <button type="button" disabled={step === 0} onClick={() => setStep(step - 1)}>
              Back
            </button>
            {step < steps.length - 1 ? (
              <button type="button" className="primary" onClick={() => setStep(step + 1)}>
                Next
              </button>
            ) : (
              <button type="button" className="primary" disabled={submitting || problem !== undefined} onClick={() => void submit()}>
                {submitting ? "Generating…" : "Generate proposal"}
              </button>
            )}
          </div>
        </section>
        <aside className="card running-total" data-testid="running-total">
          <h2>Running total {pricing && <span className="spinner" aria-label="pricing" />}</h2>
          {problem !== undefined && <FormError error={problem} />}
          {estimate?.totals && <Totals proposal={estimate} />}
        </aside>
      </div>
    </div>
  );
}
