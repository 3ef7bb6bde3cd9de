// A client's data sources: which system feeds which object model, how, and how its fields map
// onto the model's fields, with the service's validation messages.
import { useState } from "react";
import { create } from "@bufbuild/protobuf";
import { FieldType } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import {
  FieldMappingSchema,
  IntegrationType,
  MappingStatus,
  SourceFieldSchema,
  type ValidateFieldMappingsResponse,
} from "@sdk/analytics/config/v1/config_pb.js";
import { catalog, clientConfig } from "../api/clients";
import { FormError } from "../common/FieldErrors";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { INTEGRATION_TYPES, MAPPING_STATUS } from "./labels";

const TYPES: Record<string, FieldType> = {
  string: FieldType.STRING,
  integer: FieldType.INTEGER,
  decimal: FieldType.DECIMAL,
  boolean: FieldType.BOOLEAN,
  timestamp: FieldType.TIMESTAMP,
  date: FieldType.DATE,
};

const VALIDATION_STYLE: Record<number, string> = {
  [MappingStatus.VALID]: "ok",
  [MappingStatus.INCOMPLETE]: "notice",
  [MappingStatus.INVALID]: "error",
};

/** "name: type" lines into source fields. */
function parseSourceFields(text: string) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [name, type = "string"] = line.split(":").map((part) => part.trim());
      return create(SourceFieldSchema, { name, type: TYPES[type.toLowerCase()] ?? FieldType.UNSPECIFIED });
    });
}

export function DataSources({ clientId }: { clientId: string }) {
  const list = useAsync((signal) => clientConfig.listDataSources({ clientId }, { signal }), [clientId]);
  const models = useAsync((signal) => catalog.listObjectModels({}, { signal }), []);
  const [modelCode, setModelCode] = useState("");
  const [sourceSystem, setSourceSystem] = useState("");
  const [integration, setIntegration] = useState<IntegrationType>(IntegrationType.BATCH_CONFORMED);
  const [sourceText, setSourceText] = useState("");
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [validation, setValidation] = useState<ValidateFieldMappingsResponse>();
  const [problem, setProblem] = useState<unknown>();

  const model = models.value?.objectModels.find((m) => m.code === modelCode);
  const sourceFields = parseSourceFields(sourceText);
  const fieldMappings = Object.entries(mapping)
    .filter(([, source]) => source)
    .map(([targetField, sourceField]) => create(FieldMappingSchema, { targetField, sourceField }));

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
    try {
      await clientConfig.createDataSource({
        clientId,
        dataSource: { objectModelCode: modelCode, sourceSystem, integrationType: integration, sourceFields, fieldMappings },
      });
      setMapping({});
      setValidation(undefined);
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
            </tr>
          </thead>
          <tbody>
            {list.value.dataSources.map((ds) => (
              <tr key={ds.dataSourceId}>
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
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="form">
        <h3>New data source</h3>
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
        </label>
        <label>
          Source system <input name="sourceSystem" value={sourceSystem} onChange={(e) => setSourceSystem(e.target.value)} />
        </label>
        <label>
          Integration
          <select value={integration} onChange={(e) => setIntegration(Number(e.target.value))}>
            {INTEGRATION_TYPES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Source fields (one per line as "name: type")
          <textarea name="sourceFields" rows={4} value={sourceText} onChange={(e) => setSourceText(e.target.value)} />
        </label>
        {model && (
          <table className="grid compact">
            <thead>
              <tr>
                <th>Model field</th>
                <th>Source field</th>
              </tr>
            </thead>
            <tbody>
              {model.fields.map((field) => (
                <tr key={field.name}>
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
                {validation.issues.map((issue, i) => (
                  <li key={i}>{issue.message}</li>
                ))}
              </ul>
            </div>
          </div>
        )}
        <FormError error={problem} />
        <div className="actions">
          <button type="button" disabled={!modelCode} onClick={() => void validate()}>
            Validate mappings
          </button>
          <button type="button" disabled={!modelCode} onClick={() => void save()}>
            Add data source
          </button>
        </div>
      </div>
    </section>
  );
}
