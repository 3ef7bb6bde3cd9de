// One client's configuration: details, the KPIs selected with their implementation complexity,
// custom KPIs, and data sources with their field mappings.
import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { clone, create } from "@bufbuild/protobuf";
import {
  ClientSchema,
  ImplementationComplexity,
  SelectedKpiSchema,
  type Client,
} from "@sdk/analytics/config/v1/config_pb.js";
import { catalog, clientConfig } from "../api/clients";
import { useCart } from "../common/cart";
import { FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { CustomKpis } from "./CustomKpis";
import { DataSources } from "./DataSources";
import { COMPLEXITIES } from "./labels";

export function ClientEditor() {
  const { clientId = "" } = useParams();
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

  return (
    <div className="client-editor">
      <p className="breadcrumbs">
        <Link to="/clients">Clients</Link> › {client.clientId}
      </p>
      <header className="toolbar">
        <h1>{client.name || client.clientId}</h1>
        <Link className="button" to={`/proposals/new?client=${client.clientId}`}>
          Proposal wizard
        </Link>
      </header>
      <section className="card form">
        <h2>Details</h2>
        <label>
          Name <input name="name" value={client.name} onChange={(e) => edit({ name: e.target.value })} />
        </label>
        <label>
          Industry <input name="industry" value={client.industry} onChange={(e) => edit({ industry: e.target.value })} />
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
        </label>
      </section>
      <section className="card">
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
      </section>
      <FormError error={problem} />
      <div className="actions">
        <button type="button" className="primary" onClick={() => void save()} disabled={saving}>
          {saving ? "Saving…" : "Save client"}
        </button>
        {saved && (
          <span className="ok" role="status">
            Saved
          </span>
        )}
      </div>
      <CustomKpis clientId={clientId} />
      <DataSources clientId={clientId} />
    </div>
  );
}
