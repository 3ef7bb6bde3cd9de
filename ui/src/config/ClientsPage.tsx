// Client configurations: the list, a search, and a form for a new client.
import { useState } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { clientConfig } from "../api/clients";
import { may } from "../auth/access";
import { useIdentity } from "../auth/IdentityContext";
import { FieldMessage, FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";

export function ClientsPage() {
  const navigate = useNavigate();
  const { role } = useIdentity();
  const deleted = (useLocation().state as { deleted?: string } | null)?.deleted;
  const [search, setSearch] = useState("");
  const clients = useAsync((signal) => clientConfig.listClients({ search }, { signal }), [search]);
  const [draft, setDraft] = useState({ clientId: "", name: "", industry: "", currencyCode: "USD", timeZone: "UTC" });
  const [creating, setCreating] = useState(false);
  const [problem, setProblem] = useState<unknown>();

  const create = async () => {
    setCreating(true);
    setProblem(undefined);
    try {
      const { client } = await clientConfig.createClient({ client: { ...draft, licenseTermYears: 1 } });
      navigate(`/clients/${client?.clientId ?? draft.clientId}`);
    } catch (error) {
      setProblem(error);
    } finally {
      setCreating(false);
    }
  };

  return (
    <div className="clients">
      <header className="toolbar">
        <h1>Clients</h1>
        <input type="search" aria-label="Search clients" placeholder="Search clients" value={search} onChange={(e) => setSearch(e.target.value)} />
      </header>
      {deleted && (
        <p className="ok" role="status" data-testid="client-deleted">
          Client {deleted} was deleted.
        </p>
      )}
      {clients.loading && <Loading what="clients" />}
      {clients.error !== undefined && <ErrorBox error={clients.error} retry={clients.reload} />}
      {clients.value && (
        <table className="grid" data-testid="clients">
          <thead>
            <tr>
              <th>Client</th>
              <th>Industry</th>
              <th>Value chains</th>
              <th>KPIs</th>
            </tr>
          </thead>
          <tbody>
            {clients.value.clients.map((c) => (
              <tr key={c.clientId} data-client={c.clientId}>
                <td>
                  <Link to={`/clients/${c.clientId}`}>{c.name}</Link>
                  <div className="code">{c.clientId}</div>
                </td>
                <td>{c.industry}</td>
                <td>{c.valueChainCodes.join(", ")}</td>
                <td>{c.selectedKpis.length}</td>
              </tr>
            ))}
            {clients.value.clients.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No clients yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {may(role, "editClients") && (
        <form
          className="card form"
          onSubmit={(event) => {
            event.preventDefault();
            void create();
          }}
        >
          <h2>New client</h2>
          <label>
            Client id <input name="clientId" value={draft.clientId} onChange={(e) => setDraft({ ...draft, clientId: e.target.value })} />
            <FieldMessage error={problem} field="client_id" />
          </label>
          <label>
            Name <input name="name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
            <FieldMessage error={problem} field="name" />
          </label>
          <label>
            Industry <input name="industry" value={draft.industry} onChange={(e) => setDraft({ ...draft, industry: e.target.value })} />
          </label>
          <label>
            Currency <input name="currencyCode" value={draft.currencyCode} onChange={(e) => setDraft({ ...draft, currencyCode: e.target.value })} />
            <FieldMessage error={problem} field="currency_code" />
          </label>
          <label>
            Time zone <input name="timeZone" value={draft.timeZone} onChange={(e) => setDraft({ ...draft, timeZone: e.target.value })} />
            <FieldMessage error={problem} field="time_zone" />
          </label>
          <FormError error={problem} />
          <button type="submit" className="primary" disabled={creating}>
            {creating ? "Creating…" : "Create client"}
          </button>
        </form>
      )}
    </div>
  );
}
