// One client's configuration: details, the KPIs selected with their implementation complexity,
// custom KPIs, and data sources with their field mappings.
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { clone, create } from "@bufbuild/protobuf";
import {
  ClientSchema,
  ImplementationComplexity,
  SelectedKpiSchema,
  type Client,
} from "@sdk/analytics/config/v1/config_pb.js";
import { catalog, clientConfig } from "../api/clients";
import { may } from "../auth/access";
import { useIdentity } from "../auth/IdentityContext";
import { useCart } from "../common/cart";
import { ConfirmButton } from "../common/ConfirmButton";
import { ConflictNotice, isConflict } from "../common/conflict";
import { FieldMessage, FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { CustomKpis } from "./CustomKpis";
import { DataSources } from "./DataSources";
import { COMPLEXITIES } from "./labels";

export function ClientEditor() {
  const { clientId = "" } = useParams();
  const navigate = useNavigate();
  const { role } = useIdentity();
  const editable = may(role, "editClients");
  const loaded = useAsync((signal) => clientConfig.getClient({ clientId }, { signal }), [clientId]);
  const names = useAsync((signal) => catalog.listKpis({}, { signal }), []);
  const [client, setClient] = useState<Client>();
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [problem, setProblem] = useState<unknown>();
  const [cart] = useCart();

  useEffect(() => {
    if (loaded.value?.client) setClient(clone(ClientSchema, loaded.value.client));
  }, [loaded.value]);

  /** Drops the local edits and reads the stored version (and its etag) again. */
  const reload = () => {
    setProblem(undefined);
    setSaved(false);
    loaded.reload();
  };

  if (loaded.loading && !client) return <Loading what={`client ${clientId}`} />;
  if (loaded.error !== undefined) return <ErrorBox error={loaded.error} retry={loaded.reload} />;
  if (!client) return null;

  const kpiName = new Map(names.value?.kpis.map((k) => [k.code, k.name]));
  const edit = (change: Partial<Client>) => {
    setSaved(false);
    setClient({ ...client, ...change } as Client);
  };
  const selected = client.selectedKpis;
  const addFromCart = () => {
    const have = new Set(selected.map((k) => k.kpiCode));
    const added = cart
      .filter((code) => !have.has(code))
      .map((kpiCode) => create(SelectedKpiSchema, { kpiCode, complexity: ImplementationComplexity.OTB }));
    edit({ selectedKpis: [...selected, ...added] });
  };

  const save = async () => {
    setSaving(true);
    setProblem(undefined);
    try {
      const reply = await clientConfig.updateClient({ clientId, client });
      if (reply.client) setClient(reply.client);
      setSaved(true);
    } catch (error) {
      setProblem(error);
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    setSaving(true);
    setProblem(undefined);
    try {
      await clientConfig.deleteClient({ clientId, etag: client.etag });
      navigate("/clients", { replace: true, state: { deleted: clientId } });
    } catch (error) {
      setProblem(error);
      setSaving(false);
    }
  };

  return (
    <div className="client-editor">
      <p className="breadcrumbs">
        <Link to="/clients">Clients</Link> › {client.clientId}
      </p>
      <header className="toolbar">
        <h1>{client.name || client.clientId}</h1>
        <span className="muted" data-testid="client-version">
          version {String(client.version)}
        </span>
        {may(role, "proposals") && (
          <Link className="button" to={`/proposals?client=${client.clientId}`}>
            Proposals
          </Link>
        )}
        {may(role, "proposalWizard") && (
          <Link className="button" to={`/proposals/new?client=${client.clientId}`}>
            Proposal wizard
          </Link>
        )}
      </header>
      <fieldset className="card form" disabled={!editable} data-testid="client-details">
        <h2>Details</h2>
        {!editable && <p className="muted">Your role ({role}) may read this configuration but not change it.</p>}
        <label>
          Name <input name="name" value={client.name} onChange={(e) => edit({ name: e.target.value })} />
          <FieldMessage error={problem} field="name" />
        </label>
        <label>
          Industry <input name="industry" value={client.industry} onChange={(e) => edit({ industry: e.target.value })} />
        </label>
        <label>
          Currency <input name="currencyCode" value={client.currencyCode} onChange={(e) => edit({ currencyCode: e.target.value })} />
          <FieldMessage error={problem} field="currency_code" />
        </label>
        <label>
          Time zone <input name="timeZone" value={client.timeZone} onChange={(e) => edit({ timeZone: e.target.value })} />
          <FieldMessage error={problem} field="time_zone" />
        </label>
        <label>
          Description <textarea name="description" value={client.description} onChange={(e) => edit({ description: e.target.value })} />
        </label>
        <label>
          License term (years)
          <input
            name="licenseTermYears"
            type="number"
            min={1}
            max={5}
            value={client.licenseTermYears || 1}
            onChange={(e) => edit({ licenseTermYears: Number(e.target.value) })}
          />
          <FieldMessage error={problem} field="license_term_years" />
        </label>
      </fieldset>
      <fieldset className="card" disabled={!editable}>
        <h2>Selected KPIs</h2>
        <p className="muted">Value chains: {client.valueChainCodes.join(", ") || "—"}</p>
        <table className="grid" data-testid="selected-kpis">
          <thead>
            <tr>
              <th>KPI</th>
              <th>Implementation complexity</th>
              <th>RBAC attributes</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {selected.map((kpi, i) => (
              <tr key={kpi.kpiCode} data-kpi={kpi.kpiCode}>
                <td>
                  {kpiName.get(kpi.kpiCode) ?? kpi.kpiCode}
                  <div className="code">{kpi.kpiCode}</div>
                  <FieldMessage error={problem} field={`selected_kpis[${i}].kpi_code`} />
                  <FieldMessage error={problem} field={`selected_kpis[${i}].tm_hours`} />
                </td>
                <td>
                  <select
                    aria-label={`Complexity of ${kpi.kpiCode}`}
                    value={kpi.complexity}
                    onChange={(e) => {
                      const next = [...selected];
                      next[i] = create(SelectedKpiSchema, { ...kpi, complexity: Number(e.target.value) });
                      edit({ selectedKpis: next });
                    }}
                  >
                    {COMPLEXITIES.map(([value, label]) => (
                      <option key={value} value={value}>
                        {label}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <input
                    aria-label={`RBAC attributes of ${kpi.kpiCode}`}
                    placeholder="e.g. region"
                    value={kpi.rbacAttributes.join(", ")}
                    onChange={(e) => {
                      const next = [...selected];
                      next[i] = create(SelectedKpiSchema, {
                        ...kpi,
                        rbacAttributes: e.target.value.split(",").map((s) => s.trim()).filter(Boolean),
                      });
                      edit({ selectedKpis: next });
                    }}
                  />
                  <FieldMessage error={problem} field={`selected_kpis[${i}].rbac_attributes`} />
                </td>
                <td>
                  <button type="button" onClick={() => edit({ selectedKpis: selected.filter((_, j) => j !== i) })}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" onClick={addFromCart} disabled={cart.length === 0}>
          Add the {cart.length} KPIs in the cart
        </button>{" "}
        <Link to="/catalog">Browse the catalog</Link>
      </fieldset>
      {isConflict(problem) ? (
        <ConflictNotice what={`client ${clientId}`} onReload={reload} />
      ) : (
        <FormError error={problem} />
      )}
      {editable && (
        <div className="actions">
          <button type="button" className="primary" onClick={() => void save()} disabled={saving}>
            {saving ? "Saving…" : "Save client"}
          </button>
          {saved && (
            <span className="ok" role="status">
              Saved
            </span>
          )}
          <span className="spacer" />
          <ConfirmButton
            label="Delete client"
            question={`Delete ${client.clientId} with its custom KPIs and data sources?`}
            busy={saving}
            onConfirm={() => void remove()}
          />
        </div>
      )}
      <CustomKpis clientId={clientId} editable={editable} />
      <DataSources clientId={clientId} editable={editable} />
    </div>
  );
}
