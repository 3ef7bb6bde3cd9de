// One KPI on the dashboard: its current value (with a subtle highlight when it moves), when it
// last changed, when the next bucket opens, and a choice of visualisation.
import { memo, useEffect, useLayoutEffect, useRef, useState } from "react";
import { Bar, BarChart, CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Period } from "@sdk/analytics/type/v1/types_pb.js";
import { Gauge } from "../charts/Gauge";
import { Sparkline } from "../charts/Sparkline";
import { formatBucket, formatTime, formatValue, noValueText, toDate } from "../common/format";
import type { PanelData } from "./liveState";

/** Panels this close to the viewport count as visible (subscribed before they scroll in). */
const VISIBLE_MARGIN = 200;

export type ChartKind = "tile" | "line" | "bar" | "gauge" | "table";
export const CHART_KINDS: ChartKind[] = ["tile", "line", "bar", "gauge", "table"];

export interface PanelMeta {
  code: string;
  name: string;
  unit: string;
  target?: number;
}

interface Props {
  meta: PanelMeta;
  data?: PanelData;
  period: Period;
  nextBucketStart?: Date;
  chart: ChartKind;
  onChart: (code: string, kind: ChartKind) => void;
  onDrill: (code: string) => void;
  onVisible: (code: string, visible: boolean) => void;
}

/** Memoised: a stream update re-renders only the panels whose values changed. */
export const Panel = memo(PanelView);

function PanelView({ meta, data, period, nextBucketStart, chart, onChart, onDrill, onVisible }: Props) {
  const element = useRef<HTMLElement>(null);
  const [flash, setFlash] = useState(false);
  const changedAt = data?.changedAt?.getTime();
  const firstChange = useRef<number | undefined>(undefined);

  // Whether the panel starts on screen is known before the first paint, so the dashboard's stream
  // opens at once; the observer reports later scrolling.
  useLayoutEffect(() => {
    const box = element.current?.getBoundingClientRect();
    if (box) onVisible(meta.code, box.bottom > -VISIBLE_MARGIN && box.top < window.innerHeight + VISIBLE_MARGIN);
  }, [meta.code, onVisible]);

  useEffect(() => {
    const node = element.current;
    if (!node) return;
    const observer = new IntersectionObserver(([entry]) => onVisible(meta.code, entry.isIntersecting), {
      rootMargin: `${VISIBLE_MARGIN}px`,
    });
    observer.observe(node);
    return () => {
      observer.disconnect();
      onVisible(meta.code, false);
    };
  }, [meta.code, onVisible]);

  useEffect(() => {
    // The first value is not an update: only later changes get the highlight.
    if (changedAt === undefined || firstChange.current === undefined) {
      firstChange.current ??= changedAt;
      return;
    }
    setFlash(true);
    const timer = setTimeout(() => setFlash(false), 900);
    return () => clearTimeout(timer);
  }, [changedAt]);

  const current = data?.current;
  const series = [...(data?.history ?? []), ...(current ? [current] : [])];
  // Bucket labels are only drawn by the charts with an axis or rows (formatting dates is not free
  // across a hundred panels).
  const rows =
    chart === "line" || chart === "bar" || chart === "table"
      ? series.map((v) => ({ bucket: formatBucket(toDate(v.bucketStart), period), value: v.value }))
      : [];
  const hasValue = current?.value !== undefined;

  return (
    <article ref={element} className={`panel panel-${chart}`} data-kpi={meta.code} data-has-value={hasValue ? "true" : "false"}>
      <header>
        <h3 title={meta.code}>{meta.name}</h3>
        <select aria-label={`Chart for ${meta.code}`} value={chart} onChange={(e) => onChart(meta.code, e.target.value as ChartKind)}>
          {CHART_KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {kind}
            </option>
          ))}
        </select>
      </header>
      {data?.error ? (
        <p className="error">{data.error}</p>
      ) : !data ? (
        <p className="loading">
          <span className="spinner" aria-hidden="true" /> waiting for values…
        </p>
      ) : (
        <>
          <div className={`value${flash ? " updated" : ""}`} data-testid="panel-value">
            {hasValue ? (
              formatValue(current?.value, meta.unit)
            ) : (
              <span className="no-value">{noValueText(current?.noValueReason ?? 0)}</span>
            )}
          </div>
          {chart === "tile" && <Sparkline values={series.map((v) => v.value)} />}
          {chart === "gauge" && <Gauge value={current?.value} target={meta.target} max={Math.max(0, ...series.map((v) => v.value ?? 0))} unit={meta.unit} />}
          {chart === "line" && (
            <ResponsiveContainer width="100%" height={140}>
              <LineChart data={rows}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="bucket" fontSize={10} />
                <YAxis fontSize={10} width={40} />
                <Tooltip formatter={(v) => formatValue(Number(v), meta.unit)} />
                <Line dataKey="value" stroke="#2563eb" dot={false} isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          )}
          {chart === "bar" && (
            <ResponsiveContainer width="100%" height={140}>
              <BarChart data={rows.slice(-12)}>
                <XAxis dataKey="bucket" fontSize={10} />
                <YAxis fontSize={10} width={40} />
                <Tooltip formatter={(v) => formatValue(Number(v), meta.unit)} />
                <Bar dataKey="value" fill="#2563eb" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          )}
          {chart === "table" && (
            <div className="table-scroll">
              <table className="grid compact">
                <tbody>
                  {rows
                    .slice(-8)
                    .reverse()
                    .map((row) => (
                      <tr key={row.bucket}>
                        <td>{row.bucket}</td>
                        <td className="num">{formatValue(row.value, meta.unit)}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      <footer>
        <span title="when this value last changed">updated {formatTime(data?.changedAt)}</span>
        <span title="when the next bucket opens">next {formatTime(nextBucketStart)}</span>
        <button type="button" className="link" onClick={() => onDrill(meta.code)}>
          Drill down
        </button>
      </footer>
    </article>
  );
}
