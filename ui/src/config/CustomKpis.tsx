// A client's own KPIs: the list, and one form that adds a KPI or edits one (each save of an edit
// is a new version); the formula is checked as it is typed.
import { useState } from "react";
import type { CustomKpi } from "@sdk/analytics/config/v1/config_pb.js";
import { clientConfig } from "../api/clients";
import { ConfirmButton } from "../common/ConfirmButton";
import { ConflictNotice, isConflict } from "../common/conflict";
import { FieldMessage, FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { FormulaField } from "./FormulaField";

const EMPTY = { code: "", name: "", unit: "", description: "", formula: "" };

/** The KPI being edited: its code, and the version (with its etag) the edit is based on. */
interface Editing {
  code: string;
  version: bigint;
  etag: string;
}

export function CustomKpis({ clientId, editable }: { clientId: string; editable: boolean }) {
  const list = useAsync((signal) => clientConfig.listCustomKpis({ clientId }, { signal }), [clientId]);
  const [draft, setDraft] = useState(EMPTY);
  const [editing, setEditing] = useState<Editing>();
  const [problem, setProblem] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState<string>();

  const startEdit = (kpi: CustomKpi) => {
    setProblem(undefined);
    setNotice(undefined);
    setEditing({ code: kpi.code, version: kpi.version, etag: kpi.etag });
    setDraft({ code: kpi.code, name: kpi.name, unit: kpi.unit, description: kpi.description, formula: kpi.formula });
  };
  const stopEdit = () => {
    setEditing(undefined);
    setDraft(EMPTY);
    setProblem(undefined);
  };

  const save = async () => {
    setSaving(true);
    setProblem(undefined);
    setNotice(undefined);
    try {
      if (editing) {
        const { customKpi } = await clientConfig.updateCustomKpi({
          clientId,
          kpiCode: editing.code,
          customKpi: { ...draft, etag: editing.etag },
        });
        setNotice(`Saved ${editing.code} as version ${String(customKpi?.version ?? "?")}.`);
        setEditing(undefined);
      } else {
        await clientConfig.createCustomKpi({ clientId, customKpi: draft });
        setNotice(`Added ${draft.code}.`);
      }
      setDraft(EMPTY);
      list.reload();
    } catch (error) {
      setProblem(error);
    } finally {
      setSaving(false);
    }
  };

  const remove = async (code: string) => {
    setProblem(undefined);
    setNotice(undefined);
    try {
      await clientConfig.deleteCustomKpi({ clientId, kpiCode: code });
      if (editing?.code === code) stopEdit();
      setNotice(`Deleted ${code}.`);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };

  /** After a conflict: the list again, and the edited KPI's current version in the form. */
  const reloadEdited = async () => {
    if (!editing) return;
    try {
      const { customKpi } = await clientConfig.getCustomKpi({ clientId, kpiCode: editing.code });
      if (customKpi) startEdit(customKpi);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };

  return (
    <section className="card" data-testid="custom-kpis">
      <h2>Custom KPIs</h2>
      {list.loading && <Loading what="custom KPIs" />}
      {list.error !== undefined && <ErrorBox error={list.error} retry={list.reload} />}
      {list.value && list.value.customKpis.length > 0 && (
        <table className="grid">
          <thead>
            <tr>
              <th>KPI</th>
              <th>Formula</th>
              <th>Unit</th>
              <th>Version</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.value.customKpis.map((kpi) => (
              <tr key={kpi.code} data-custom-kpi={kpi.code}>
                <td>
                  {kpi.name}
                  <div className="code">{kpi.code}</div>
                </td>
                <td>
                  <code>{kpi.formula}</code>
                </td>
                <td>{kpi.unit}</td>
                <td data-testid="custom-kpi-version">v{String(kpi.version)}</td>
                <td>
                  {editable && (
                    <span className="actions">
                      <button type="button" onClick={() => startEdit(kpi)}>
                        Edit
                      </button>
                      <ConfirmButton label="Delete" question={`Delete ${kpi.code}?`} onConfirm={() => void remove(kpi.code)} />
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {notice && (
        <p className="ok" role="status">
          {notice}
        </p>
      )}
      {editable && (
        <form
          className="form"
          data-testid="custom-kpi-form"
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <h3>{editing ? `Edit ${editing.code} (a new version after v${String(editing.version)})` : "New custom KPI"}</h3>
          <label>
            Code{" "}
            <input
              name="code"
              value={draft.code}
              readOnly={editing !== undefined}
              onChange={(e) => setDraft({ ...draft, code: e.target.value })}
            />
            <FieldMessage error={problem} field="code" />
          </label>
          <label>
            Name <input name="name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
            <FieldMessage error={problem} field="name" />
          </label>
          <label>
            Unit <input name="unit" value={draft.unit} onChange={(e) => setDraft({ ...draft, unit: e.target.value })} />
          </label>
          <label>
            Formula
            <FormulaField value={draft.formula} clientId={clientId} onChange={(formula) => setDraft({ ...draft, formula })} />
          </label>
          {isConflict(problem) ? (
            <ConflictNotice what={`custom KPI ${editing?.code ?? ""}`} onReload={() => void reloadEdited()} />
          ) : (
            <FormError error={problem} />
          )}
          <div className="actions">
            <button type="submit" disabled={saving}>
              {saving ? "Saving…" : editing ? "Save new version" : "Add custom KPI"}
            </button>
            {editing && (
              <button type="button" onClick={stopEdit}>
                Cancel edit
              </button>
            )}
          </div>
        </form>
      )}
    </section>
  );
}
