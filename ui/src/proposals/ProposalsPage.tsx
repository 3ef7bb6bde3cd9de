// A client's saved proposals, newest first: version, issue date, valid-until and totals; each opens
// its document.
import { Link, useSearchParams } from "react-router-dom";
import { proposals } from "../api/clients";
import { may } from "../auth/access";
import { useIdentity } from "../auth/IdentityContext";
import { toDate } from "../common/format";
import { formatMoney, formatMoneyRange } from "../common/money";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { validityText } from "./validity";

const DAY = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium" });

export function ProposalsPage() {
  const [params] = useSearchParams();
  const identity = useIdentity();
  const clientId = params.get("client") ?? identity.clientId;
  const list = useAsync((signal) => proposals.listProposals({ clientId }, { signal }), [clientId]);
  const now = new Date();

  return (
    <div className="proposals">
      <header className="toolbar">
        <h1>
          Proposals <span className="code">for {clientId}</span>
        </h1>
        <Link to={`/clients/${clientId}`}>Client configuration</Link>
        {may(identity.role, "proposalWizard") && (
          <Link className="button" to={`/proposals/new?client=${clientId}`}>
            New proposal
          </Link>
        )}
      </header>
      {list.loading && <Loading what="proposals" />}
      {list.error !== undefined && <ErrorBox error={list.error} retry={list.reload} />}
      {list.value && (
        <table className="grid versions" data-testid="proposals">
          <thead>
            <tr>
              <th>Version</th>
              <th>Issued</th>
              <th>Valid until</th>
              <th>Year 1</th>
              <th>Each following year</th>
              <th>Proposal</th>
            </tr>
          </thead>
          <tbody>
            {list.value.proposals.map((p) => {
              const validUntil = toDate(p.validUntil);
              return (
                <tr key={p.proposalId} data-proposal-id={p.proposalId} data-version={p.version}>
                  <td>v{p.version}</td>
                  <td>{formatDay(toDate(p.issueTime))}</td>
                  <td>
                    {formatDay(validUntil)} <span className="muted">{validityText(validUntil, now)}</span>
                  </td>
                  <td>{formatMoneyRange(p.totals?.year1)}</td>
                  <td>{formatMoney(p.totals?.yearlyRecurring)}</td>
                  <td>
                    <Link to={`/proposals/${p.proposalId}`}>Open</Link> <span className="code">{p.proposalId}</span>
                  </td>
                </tr>
              );
            })}
            {list.value.proposals.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No saved proposals for {clientId} yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </div>
  );
}

function formatDay(date: Date | undefined): string {
  return date ? DAY.format(date) : "—";
}
