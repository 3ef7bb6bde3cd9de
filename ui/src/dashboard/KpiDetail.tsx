// Below the live panels: one KPI in depth. A breakdown by a dimension of its object model (pie,
// bar, table), a history over a chosen date range compared with the previous period, and
// CSV / XLSX exports of that history.
import { useState } from "react";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Legend,
  Line,
  LineChart,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ComparisonMode, ExportFormat } from "@sdk/analytics/calculation/v1/calculation_pb.js";
import { FieldType } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { Period } from "@sdk/analytics/type/v1/types_pb.js";
import { calculation, catalog } from "../api/clients";
import { errorText, formatBucket, formatValue, toDate } from "../common/format";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";
import type { PanelMeta } from "./Panel";

const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const DAY_MS = 86_400_000;

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function KpiDetail({ meta, clientId, onClose }: { meta: PanelMeta; clientId: string; onClose: () => void }) {
  const today = new Date();
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - 6 * DAY_MS)));
  const [to, setTo] = useState(isoDay(today));
  const [period, setPeriod] = useState<Period>(Period.DAY);
  const [dimension, setDimension] = useState("");
  const [exportProblem, setExportProblem] = useState<string>();

  const range = { start: timestampFromDate(new Date(`${from}T00:00:00Z`)), end: timestampFromDate(new Date(new Date(`${to}T00:00:00Z`).getTime() + DAY_MS)) };

  const dimensions = useAsync(async (signal) => {
    const { kpi } = await catalog.getKpi({ code: meta.code }, { signal });
    const model = kpi?.requiredObjectModelCodes[0];
    if (!model) return [];
    const { objectModel } = await catalog.getObjectModel({ code: model }, { signal });
    return (objectModel?.fields ?? []).filter((f) => f.type === FieldType.STRING && !f.key).map((f) => f.name);
  }, [meta.code]);

  const history = useAsync(
    (signal) =>
      calculation.calculate(
        { kpiCode: meta.code, clientId, timeRange: range, period, comparison: ComparisonMode.PREVIOUS_PERIOD },
        { signal },
      ),
    [meta.code, clientId, from, to, period],
  );

  const breakdown = useAsync(
    async (signal) =>
      dimension
        ? calculation.calculate({ kpiCode: meta.code, clientId, timeRange: range, period, groupBy: [dimension], maxGroups: 12 }, { signal })
        : undefined,
    [meta.code, clientId, from, to, period, dimension],
  );

  const download = async (format: ExportFormat) => {
    setExportProblem(undefined);
    try {
      const reply = await calculation.exportCalculation({
        kpiCodes: [meta.code],
        clientId,
        timeRange: range,
        period,
        comparison: ComparisonMode.PREVIOUS_PERIOD,
        format,
      });
      const url = URL.createObjectURL(new Blob([reply.content as BlobPart], { type: reply.contentType }));
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = reply.fileName || `${meta.code}.${format === ExportFormat.XLSX ? "xlsx" : "csv"}`;
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setExportProblem(errorText(error));
    }
  };

  const result = history.value?.result;
  const previous = result?.comparison?.previousSeries ?? [];
  const rows = (result?.series ?? []).map((value, i) => ({
    bucket: formatBucket(toDate(value.bucketStart), period),
    current: value.value,
    previous: previous[i]?.value,
  }));
  const groups = (breakdown.value?.result?.groups ?? []).map((g) => ({
    name: g.dimensions[dimension] || "(none)",
    value: g.total?.value ?? 0,
  }));

  return (
    <section className="kpi-detail" data-testid="kpi-detail">
      <header>
        <h2>
          {meta.name} <span className="code">{meta.code}</span>
        </h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </header>
      <div className="controls">
        <label>
          From <input type="date" value={from} max={to} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          To <input type="date" value={to} min={from} onChange={(e) => setTo(e.target.value)} />
        </label>
        <label>
          Granularity
          <select value={period} onChange={(e) => setPeriod(Number(e.target.value) as Period)}>
            <option value={Period.HOUR}>hour</option>
            <option value={Period.DAY}>day</option>
            <option value={Period.WEEK}>week</option>
          </select>
        </label>
        <button type="button" onClick={() => void download(ExportFormat.CSV)}>
          Export CSV
        </button>
        <button type="button" onClick={() => void download(ExportFormat.XLSX)}>
          Export XLSX
        </button>
      </div>
      {exportProblem && <p className="error">{exportProblem}</p>}
      <h3>History compared with the previous period</h3>
      {history.loading && <Loading what="history" />}
      {history.error !== undefined && <ErrorBox error={history.error} retry={history.reload} />}
      {result && (
        <>
          <p>
            Total {formatValue(result.total?.value, meta.unit)}; previous period{" "}
            {formatValue(result.comparison?.previousTotal?.value, meta.unit)}
            {result.comparison?.percentChange !== undefined && ` (${result.comparison.percentChange.toFixed(1)} %)`}
          </p>
          <ResponsiveContainer width="100%" height={260}>
            <LineChart data={rows}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="bucket" />
              <YAxis />
              <Tooltip formatter={(v) => formatValue(Number(v), meta.unit)} />
              <Legend />
              <Line dataKey="current" name="this period" stroke="#2563eb" isAnimationActive={false} />
              <Line dataKey="previous" name="previous period" stroke="#9ca3af" strokeDasharray="4 4" isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </>
      )}
      <h3>Breakdown</h3>
      <label>
        By{" "}
        <select aria-label="Breakdown dimension" value={dimension} onChange={(e) => setDimension(e.target.value)}>
          <option value="">choose a dimension…</option>
          {dimensions.value?.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      {dimensions.error !== undefined && <ErrorBox error={dimensions.error} />}
      {breakdown.loading && dimension && <Loading what="breakdown" />}
      {breakdown.error !== undefined && <ErrorBox error={breakdown.error} retry={breakdown.reload} />}
      {groups.length > 0 && (
        <div className="breakdown">
          <ResponsiveContainer width="50%" height={240}>
            <PieChart>
              <Pie
                data={groups}
                dataKey="value"
                nameKey="name"
                outerRadius={90}
                label={({ name, value }) => `${String(name)} ${formatValue(Number(value), meta.unit)}`}
                isAnimationActive={false}
              >
                {groups.map((g, i) => (
                  <Cell key={g.name} fill={COLORS[i % COLORS.length]} />
                ))}
              </Pie>
              <Tooltip formatter={(v) => formatValue(Number(v), meta.unit)} />
            </PieChart>
          </ResponsiveContainer>
          <ResponsiveContainer width="50%" height={240}>
            <BarChart data={groups}>
              <XAxis dataKey="name" />
              <YAxis />
              <Tooltip formatter={(v) => formatValue(Number(v), meta.unit)} />
              <Bar dataKey="value" fill="#2563eb" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
          <table className="grid compact">
            <thead>
              <tr>
                <th>{dimension}</th>
                <th>value</th>
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={g.name}>
                  <td>{g.name}</td>
                  <td className="num">{formatValue(g.value, meta.unit)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
