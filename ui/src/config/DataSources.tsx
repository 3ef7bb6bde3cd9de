// A client's data sources: which system feeds which object model, how, and how its fields map
// onto the model's fields, with the service's validation messages next to the fields they concern.
// One form adds a data source or edits a stored one (against the etag it was read with).
import { useState } from "react";
import { create } from "@bufbuild/protobuf";
import {
  FieldMappingSchema,
  IntegrationType,
  MappingStatus,
  type DataSource,
  type MappingIssue,
  type ValidateFieldMappingsResponse,
} from "@sdk/analytics/config/v1/config_pb.js";
import { catalog, clientConfig } from "../api/clients";
import { ConfirmButton } from "../common/ConfirmButton";
import { ConflictNotice, isConflict } from "../common/conflict";
import { FieldMessage, FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { INTEGRATION_TYPES, MAPPING_STATUS } from "./labels";
import { formatSourceFields, parseSourceFields } from "./sourceFields";

const VALIDATION_STYLE: Record<number, string> = {
  [MappingStatus.VALID]: "ok",
  [MappingStatus.INCOMPLETE]: "notice",
  [MappingStatus.INVALID]: "error",
};

/** The stored data source being edited: its id and the etag the edit is based on. */
interface Editing {
  dataSourceId: string;
  etag: string;
}

export function DataSources({ clientId, editable }: { clientId: string; editable: boolean }) {
  const list = useAsync((signal) => clientConfig.listDataSources({ clientId }, { signal }), [clientId]);
  const models = useAsync((signal) => catalog.listObjectModels({}, { signal }), []);
  const [editing, setEditing] = useState<Editing>();
  const [modelCode, setModelCode] = useState("");
  const [sourceSystem, setSourceSystem] = useState("");
  const [integration, setIntegration] = useState<IntegrationType>(IntegrationType.BATCH_CONFORMED);
  const [sourceText, setSourceText] = useState("");
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [validation, setValidation] = useState<ValidateFieldMappingsResponse>();
  const [problem, setProblem] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  const model = models.value?.objectModels.find((m) => m.code === modelCode);
  const sourceFields = parseSourceFields(sourceText);
  const fieldMappings = Object.entries(mapping)
    .filter(([, source]) => source)
    .map(([targetField, sourceField]) => create(FieldMappingSchema, { targetField, sourceField }));
  const issuesOf = (targetField: string): MappingIssue[] =>
    (validation?.issues ?? []).filter((issue) => issue.targetField === targetField);
  const otherIssues = (validation?.issues ?? []).filter(
    (issue) => !issue.targetField || !model?.fields.some((f) => f.name === issue.targetField),
  );

  const fill = (ds: DataSource | undefined) => {
    setModelCode(ds?.objectModelCode ?? "");
    setSourceSystem(ds?.sourceSystem ?? "");
    setIntegration(ds?.integrationType ?? IntegrationType.BATCH_CONFORMED);
    setSourceText(ds ? formatSourceFields(ds.sourceFields) : "");
    setMapping(Object.fromEntries((ds?.fieldMappings ?? []).map((m) => [m.targetField, m.sourceField])));
    setValidation(undefined);
    setProblem(undefined);
  };
  const startEdit = (ds: DataSource) => {
    setNotice(undefined);
    setEditing({ dataSourceId: ds.dataSourceId, etag: ds.etag });
    fill(ds);
  };
  const stopEdit = () => {
    setEditing(undefined);
    fill(undefined);
  };

  const validate = async () => {
    setProblem(undefined);
    try {
      setValidation(
        await clientConfig.validateFieldMappings({ clientId, objectModelCode: modelCode, sourceFields, fieldMappings }),
      );
    } catch (error) {
      setProblem(error);
    }
  };
  const save = async () => {
    setProblem(undefined);
    setNotice(undefined);
    const dataSource = { objectModelCode: modelCode, sourceSystem, integrationType: integration, sourceFields, fieldMappings };
    try {
      if (editing) {
        await clientConfig.updateDataSource({
          clientId,
          dataSourceId: editing.dataSourceId,
          dataSource: { ...dataSource, etag: editing.etag },
        });
        setNotice(`Saved the ${modelCode} data source.`);
      } else {
        await clientConfig.createDataSource({ clientId, dataSource });
        setNotice(`Added a ${modelCode} data source.`);
      }
      setEditing(undefined);
      fill(undefined);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };
  const remove = async (ds: DataSource) => {
    setProblem(undefined);
    setNotice(undefined);
    try {
      await clientConfig.deleteDataSource({ clientId, dataSourceId: ds.dataSourceId });
      if (editing?.dataSourceId === ds.dataSourceId) stopEdit();
      setNotice(`Deleted the ${ds.objectModelCode} data source${ds.sourceSystem ? ` from ${ds.sourceSystem}` : ""}.`);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };
  /** After a conflict: the edited data source as it is stored now. */
  const reloadEdited = async () => {
    if (!editing) return;
    try {
      const { dataSource } = await clientConfig.getDataSource({ clientId, dataSourceId: editing.dataSourceId });
      if (dataSource) startEdit(dataSource);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };

  return (
    <section className="card" data-testid="data-sources">
      <h2>Data sources and field mappings</h2>
      {list.loading && <Loading what="data sources" />}
      {list.error !== undefined && <ErrorBox error={list.error} retry={list.reload} />}
      {list.value && list.value.dataSources.length > 0 && (
        <table className="grid">
          <thead>
            <tr>
              <th>Object model</th>
              <th>Source system</th>
              <th>Integration</th>
              <th>Mappings</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.value.dataSources.map((ds) => (
              <tr key={ds.dataSourceId} data-data-source={ds.dataSourceId} data-model={ds.objectModelCode}>
                <td>{ds.objectModelCode}</td>
                <td>{ds.sourceSystem}</td>
                <td>{INTEGRATION_TYPES.find(([t]) => t === ds.integrationType)?.[1]}</td>
                <td>
                  {MAPPING_STATUS[ds.mappingStatus] ?? "—"}
                  {ds.mappingIssues.map((issue, i) => (
                    <div key={i} className={issue.blocking ? "error-text" : "muted"}>
                      {issue.message}
                    </div>
                  ))}
                </td>
                <td>
                  {editable && (
                    <span className="actions">
                      <button type="button" onClick={() => startEdit(ds)}>
                        Edit
                      </button>
                      <ConfirmButton
                        label="Delete"
                        question={`Delete the ${ds.objectModelCode} data source?`}
                        onConfirm={() => void remove(ds)}
                      />
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
        <div className="form" data-testid="data-source-form">
          <h3>{editing ? `Edit the ${modelCode} data source` : "New data source"}</h3>
          <label>
            Object model
            <select name="objectModel" value={modelCode} onChange={(e) => setModelCode(e.target.value)}>
              <option value="">choose…</option>
              {models.value?.objectModels.map((m) => (
                <option key={m.code} value={m.code}>
                  {m.code} — {m.name}
                </option>
              ))}
            </select>
            <FieldMessage error={problem} field="object_model_code" />
          </label>
          <label>
            Source system <input name="sourceSystem" value={sourceSystem} onChange={(e) => setSourceSystem(e.target.value)} />
            <FieldMessage error={problem} field="source_system" />
          </label>
          <label>
            Integration
            <select name="integration" value={integration} onChange={(e) => setIntegration(Number(e.target.value))}>
              {INTEGRATION_TYPES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
            <FieldMessage error={problem} field="integration_type" />
          </label>
          <label>
            Source fields (one per line as "name: type")
            <textarea name="sourceFields" rows={4} value={sourceText} onChange={(e) => setSourceText(e.target.value)} />
            <FieldMessage error={problem} field="source_fields" />
          </label>
          {model && (
            <table className="grid compact" data-testid="field-mappings">
              <thead>
                <tr>
                  <th>Model field</th>
                  <th>Source field</th>
                  <th>Check</th>
                </tr>
              </thead>
              <tbody>
                {model.fields.map((field) => (
                  <tr key={field.name} data-field={field.name}>
                    <td>
                      {field.name} {field.required && <span className="muted">(required)</span>}
                    </td>
                    <td>
                      <select
                        aria-label={`Source of ${field.name}`}
                        value={mapping[field.name] ?? ""}
                        onChange={(e) => setMapping({ ...mapping, [field.name]: e.target.value })}
                      >
                        <option value="">—</option>
                        {sourceFields.map((s) => (
                          <option key={s.name} value={s.name}>
                            {s.name}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td data-testid="field-issues">
                      {issuesOf(field.name).map((issue, i) => (
                        <div key={i} className={issue.blocking ? "error-text" : "muted"}>
                          {issue.message}
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {validation && (
            <div className={VALIDATION_STYLE[validation.status] ?? "notice"} data-testid="mapping-validation">
              <div>
                Mappings {MAPPING_STATUS[validation.status] ?? "checked"}
                <ul>
                  {(otherIssues.length > 0 ? otherIssues : validation.issues).map((issue, i) => (
                    <li key={i}>{issue.message}</li>
                  ))}
                </ul>
              </div>
            </div>
          )}
          {isConflict(problem) ? (
            <ConflictNotice what={`the ${modelCode} data source`} onReload={() => void reloadEdited()} />
          ) : (
            <FormError error={problem} />
          )}
          <div className="actions">
            <button type="button" disabled={!modelCode} onClick={() => void validate()}>
              Validate mappings
            </button>
            <button type="button" onClick={() => void save()}>
              {editing ? "Save data source" : "Add data source"}
            </button>
            {editing && (
              <button type="button" onClick={stopEdit}>
                Cancel edit
              </button>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
