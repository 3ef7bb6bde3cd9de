// One saved proposal, opened from the list or by its address.
import { Link, useParams } from "react-router-dom";
import { proposals } from "../api/clients";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { ProposalDocument } from "./ProposalDocument";

export function ProposalPage() {
  const { proposalId = "" } = useParams();
  const loaded = useAsync((signal) => proposals.getProposal({ proposalId }, { signal }), [proposalId]);
  if (loaded.loading) return <Loading what={`proposal ${proposalId}`} />;
  if (loaded.error !== undefined) return <ErrorBox error={loaded.error} retry={loaded.reload} />;
  const proposal = loaded.value?.proposal;
  if (!proposal) return null;
  return (
    <>
      <p className="breadcrumbs">
        <Link to={`/proposals?client=${proposal.clientId}`}>Proposals of {proposal.clientId}</Link> › version{" "}
        {proposal.version}
      </p>
      <ProposalDocument proposal={proposal} />
    </>
  );
}
