// A UML-style class diagram of the object models: one box per model with its typed fields, and
// its declared relationships as labelled associations (many-to-one drawn as * → 1).
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { Cardinality, FieldType, type ObjectModel } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { catalog } from "../api/clients";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";

const BOX_WIDTH = 230;
const ROW = 15;
const HEADER = 26;
const MAX_FIELDS = 12;
const GAP_X = 70;
const GAP_Y = 50;
const COLUMNS = 4;

const TYPE_NAMES: Record<number, string> = {
  [FieldType.STRING]: "string",
  [FieldType.INTEGER]: "int",
  [FieldType.DECIMAL]: "decimal",
  [FieldType.BOOLEAN]: "bool",
  [FieldType.TIMESTAMP]: "timestamp",
  [FieldType.DATE]: "date",
};

const CARDINALITY: Record<number, [string, string]> = {
  [Cardinality.MANY_TO_ONE]: ["*", "1"],
  [Cardinality.ONE_TO_MANY]: ["1", "*"],
  [Cardinality.ONE_TO_ONE]: ["1", "1"],
};

interface Box {
  model: ObjectModel;
  x: number;
  y: number;
  height: number;
}

function layout(models: ObjectModel[]): Box[] {
  const heights = models.map((m) => HEADER + Math.min(m.fields.length, MAX_FIELDS + 1) * ROW + 8);
  const boxes: Box[] = [];
  for (let row = 0; row * COLUMNS < models.length; row++) {
    const slice = models.slice(row * COLUMNS, row * COLUMNS + COLUMNS);
    const top = boxes.length ? Math.max(...boxes.slice(-COLUMNS).map((b) => b.y + b.height)) + GAP_Y : 10;
    slice.forEach((model, col) => {
      boxes.push({ model, x: 10 + col * (BOX_WIDTH + GAP_X), y: top, height: heights[row * COLUMNS + col] });
    });
  }
  return boxes;
}

export function ObjectModelsPage() {
  const [params, setParams] = useSearchParams();
  const focus = params.get("focus") ?? "";
  const [chain, setChain] = useState("");
  const chains = useAsync((signal) => catalog.listValueChains({}, { signal }), []);
  const models = useAsync((signal) => catalog.listObjectModels({ valueChainCode: chain }, { signal }), [chain]);
  const boxes = useMemo(() => layout(models.value?.objectModels ?? []), [models.value]);
  const byCode = new Map(boxes.map((b) => [b.model.code, b]));
  const related = new Set<string>();
  for (const box of boxes) {
    for (const rel of box.model.relationships) {
      if (box.model.code === focus) related.add(rel.targetObjectModelCode);
      if (rel.targetObjectModelCode === focus) related.add(box.model.code);
    }
  }
  const width = COLUMNS * (BOX_WIDTH + GAP_X);
  const height = Math.max(200, ...boxes.map((b) => b.y + b.height + 20));

  return (
    <div className="models">
      <header className="toolbar">
        <h1>Object models</h1>
        <label>
          Value chain{" "}
          <select value={chain} onChange={(e) => setChain(e.target.value)}>
            <option value="">all</option>
            {chains.value?.valueChains.map((c) => (
              <option key={c.code} value={c.code}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        {focus && (
          <button type="button" onClick={() => setParams({})}>
            Clear focus on {focus}
          </button>
        )}
      </header>
      {models.loading && <Loading what="object models" />}
      {models.error !== undefined && <ErrorBox error={models.error} retry={models.reload} />}
      {!models.loading && models.value && (
        <div className="diagram">
          <svg width={width} height={height} role="img" aria-label="object model diagram" data-testid="uml">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10" fill="none" stroke="#475569" />
              </marker>
            </defs>
            {boxes.flatMap((box) =>
              box.model.relationships.map((rel) => {
                const target = byCode.get(rel.targetObjectModelCode);
                if (!target) return null;
                const x1 = box.x + BOX_WIDTH / 2;
                const y1 = box.y + box.height / 2;
                const x2 = target.x + BOX_WIDTH / 2;
                const y2 = target.y + target.height / 2;
                const dim = focus && box.model.code !== focus && target.model.code !== focus;
                return (
                  <g key={`${box.model.code}.${rel.name}`} className={dim ? "dim" : ""}>
                    <line x1={x1} y1={y1} x2={x2} y2={y2} stroke="#475569" markerEnd="url(#arrow)" />
                  </g>
                );
              }),
            )}
            {boxes.map((box) => {
              const dim = focus && box.model.code !== focus && !related.has(box.model.code);
              const shown = box.model.fields.slice(0, MAX_FIELDS);
              return (
                <g
                  key={box.model.code}
                  transform={`translate(${box.x},${box.y})`}
                  className={`uml-box${box.model.code === focus ? " focus" : ""}${dim ? " dim" : ""}`}
                  onClick={() => setParams({ focus: box.model.code })}
                  data-model={box.model.code}
                >
                  <title>{box.model.description}</title>
                  <rect width={BOX_WIDTH} height={box.height} rx="4" fill="#fff" stroke="#334155" />
                  <rect width={BOX_WIDTH} height={HEADER - 4} rx="4" fill="#e2e8f0" stroke="#334155" />
                  <text x={BOX_WIDTH / 2} y={16} textAnchor="middle" fontWeight="bold" fontSize="12">
                    {box.model.code}
                  </text>
                  {shown.map((field, i) => (
                    <text key={field.name} x={8} y={HEADER + 10 + i * ROW} fontSize="11">
                      {field.key ? "PK " : field.required ? "+ " : "  "}
                      {field.name}: {TYPE_NAMES[field.type] ?? "?"}
                    </text>
                  ))}
                  {box.model.fields.length > MAX_FIELDS && (
                    <text x={8} y={HEADER + 10 + MAX_FIELDS * ROW} fontSize="11" fill="#64748b">
                      … {box.model.fields.length - MAX_FIELDS} more
                    </text>
                  )}
                </g>
              );
            })}
            {boxes.flatMap((box) =>
              box.model.relationships.map((rel) => {
                const target = byCode.get(rel.targetObjectModelCode);
                if (!target) return null;
                const [from, to] = CARDINALITY[rel.cardinality] ?? ["", ""];
                const x1 = box.x + BOX_WIDTH / 2;
                const y1 = box.y + box.height / 2;
                const x2 = target.x + BOX_WIDTH / 2;
                const y2 = target.y + target.height / 2;
                const dim = focus && box.model.code !== focus && target.model.code !== focus;
                return (
                  <g key={`${box.model.code}.${rel.name}.label`} className={dim ? "dim" : ""}>
                    <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 4} fontSize="10" textAnchor="middle" className="assoc">
                      {rel.name} ({from}→{to})
                    </text>
                  </g>
                );
              }),
            )}
          </svg>
        </div>
      )}
    </div>
  );
}
