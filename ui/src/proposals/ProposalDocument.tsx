// A saved proposal: its document, its totals, and downloads as Markdown, HTML or PDF rendered by
// the proposal service.
import { useState } from "react";
import { DocumentFormat, type ServiceProposal } from "@sdk/analytics/config/v1/proposal_pb.js";
import { proposals } from "../api/clients";
import { errorText, formatTime, toDate } from "../common/format";
import { formatMoney, formatMoneyRange } from "../common/money";

export function Totals({ proposal }: { proposal: ServiceProposal }) {
  const totals = proposal.totals;
  return (
    <dl className="totals">
      <dt>Licensing (annual)</dt>
      <dd>{formatMoney(proposal.licensing?.annualTotal)}</dd>
      <dt>Implementation</dt>
      <dd>{formatMoneyRange(proposal.implementation?.implementationTotal)}</dd>
      <dt>Infrastructure (annual)</dt>
      <dd>{formatMoney(proposal.infrastructure?.annualTotal)}</dd>
      <dt>Managed services (annual)</dt>
      <dd>{formatMoney(proposal.managedServices?.annualTotal)}</dd>
      <dt>Year 1</dt>
      <dd data-testid="total-year1">{formatMoneyRange(totals?.year1)}</dd>
      <dt>Each following year</dt>
      <dd data-testid="total-recurring">{formatMoney(totals?.yearlyRecurring)}</dd>
      <dt>{totals?.termYears ?? "?"}-year total</dt>
      <dd data-testid="total-term">{formatMoneyRange(totals?.termTotal)}</dd>
    </dl>
  );
}

export function ProposalDocument({ proposal }: { proposal: ServiceProposal }) {
  const [problem, setProblem] = useState<string>();
  const [downloaded, setDownloaded] = useState<string>();
  const download = async (format: DocumentFormat) => {
    setProblem(undefined);
    setDownloaded(undefined);
    try {
      const reply = await proposals.renderProposalDocument({ proposalId: proposal.proposalId, format });
      const url = URL.createObjectURL(new Blob([reply.content as BlobPart], { type: reply.contentType }));
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = reply.fileName || `proposal-${proposal.proposalId}`;
      anchor.click();
      setDownloaded(anchor.download);
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setProblem(errorText(error));
    }
  };
  return (
    <div className="proposal" data-testid="proposal" data-proposal-id={proposal.proposalId}>
      <header className="toolbar">
        <h1>Proposal {proposal.proposalId}</h1>
        <span className="muted" data-testid="proposal-meta">
          {proposal.clientName || proposal.clientId} · version {proposal.version} · issued{" "}
          {formatTime(toDate(proposal.issueTime), true)} · valid until {formatTime(toDate(proposal.validUntil), true)}
        </span>
        <button type="button" onClick={() => void download(DocumentFormat.MARKDOWN)}>
          Download Markdown
        </button>
        <button type="button" onClick={() => void download(DocumentFormat.HTML)}>
          Download HTML
        </button>
        <button type="button" onClick={() => void download(DocumentFormat.PDF)}>
          Download PDF
        </button>
      </header>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {downloaded && (
        <p className="ok" role="status" data-testid="downloaded">
          Downloaded {downloaded}
        </p>
      )}
      <div className="wizard-body">
        <pre className="document" data-testid="proposal-document">
          {proposal.documentMarkdown}
        </pre>
        <aside className="card running-total">
          <h2>Totals</h2>
          <Totals proposal={proposal} />
        </aside>
      </div>
    </div>
  );
}
