// A client's own KPIs: the list, and an editor whose formula is checked as it is typed.
import { useState } from "react";
import { clientConfig } from "../api/clients";
import { FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { FormulaField } from "./FormulaField";

const EMPTY = { code: "", name: "", unit: "", description: "", formula: "" };

export function CustomKpis({ clientId }: { clientId: string }) {
  const list = useAsync((signal) => clientConfig.listCustomKpis({ clientId }, { signal }), [clientId]);
  const [draft, setDraft] = useState(EMPTY);
  const [problem, setProblem] = useState<unknown>();
  const [saving, setSaving] = useState(false);

  const save = async () => {
    setSaving(true);
    setProblem(undefined);
    try {
      await clientConfig.createCustomKpi({ clientId, customKpi: draft });
      setDraft(EMPTY);
      list.reload();
    } catch (error) {
      setProblem(error);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className="card" data-testid="custom-kpis">
      <h2>Custom KPIs</h2>
      {list.loading && <Loading what="custom KPIs" />}
      {list.error !== undefined && <ErrorBox error={list.error} retry={list.reload} />}
      {list.value && list.value.customKpis.length > 0 && (
        <table className="grid">
          <tbody>
            {list.value.customKpis.map((kpi) => (
              <tr key={kpi.code}>
                <td>
                  {kpi.name}
                  <div className="code">{kpi.code}</div>
                </td>
                <td>
                  <code>{kpi.formula}</code>
                </td>
                <td>{kpi.unit}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <h3>New custom KPI</h3>
        <label>
          Code <input name="code" value={draft.code} onChange={(e) => setDraft({ ...draft, code: e.target.value })} />
        </label>
        <label>
          Name <input name="name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
        </label>
        <label>
          Unit <input name="unit" value={draft.unit} onChange={(e) => setDraft({ ...draft, unit: e.target.value })} />
        </label>
        <label>
          Formula
          <FormulaField value={draft.formula} clientId={clientId} onChange={(formula) => setDraft({ ...draft, formula })} />
        </label>
        <FormError error={problem} />
        <button type="submit" disabled={saving}>
          {saving ? "Saving…" : "Add custom KPI"}
        </button>
      </form>
    </section>
  );
}
