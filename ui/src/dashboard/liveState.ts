// What a dashboard knows about its KPIs, folded from the stream's snapshot and updates. Pure
// functions: the stream hook applies them, and they are easy to reason about on their own.
import type { StreamSnapshot, StreamUpdate } from "@sdk/analytics/gateway/v1/stream_pb.js";
import type { KpiValue } from "@sdk/analytics/type/v1/types_pb.js";
import { errorText, toDate } from "../common/format";

export interface PanelData {
  current?: KpiValue;
  /** Closed buckets before the current one, oldest first. */
  history: KpiValue[];
  /** When this browser last saw the panel's value change. */
  changedAt?: Date;
  error?: string;
}

export type Panels = ReadonlyMap<string, PanelData>;

const MAX_HISTORY = 120;

function bucketTime(value: KpiValue | undefined): number {
  return toDate(value?.bucketStart)?.getTime() ?? Number.NEGATIVE_INFINITY;
}

export function applySnapshot(previous: Panels, snapshot: StreamSnapshot, now: Date): Panels {
  const next = new Map(previous);
  for (const series of snapshot.kpis) {
    const before = previous.get(series.kpiCode);
    const changed = before?.current?.value !== series.current?.value;
    next.set(series.kpiCode, {
      current: series.current,
      history: series.history.slice(-MAX_HISTORY),
      changedAt: changed || !before ? now : before.changedAt,
    });
  }
  for (const failure of snapshot.errors) {
    next.set(failure.kpiCode, {
      history: [],
      error: failure.status?.message || "this KPI cannot be streamed",
    });
  }
  return next;
}

/** Folds one update's values in: same bucket replaces, a newer bucket closes the current one. */
export function applyUpdate(previous: Panels, update: StreamUpdate, now: Date): Panels {
  const next = new Map(previous);
  for (const value of update.values) {
    if (Object.keys(value.dimensions).length > 0) continue; // breakdowns are not panel values
    const panel = next.get(value.kpiCode) ?? { history: [] };
    const at = bucketTime(value);
    const currentAt = bucketTime(panel.current);
    if (at === currentAt || panel.current === undefined) {
      const changed = panel.current?.value !== value.value;
      next.set(value.kpiCode, { ...panel, current: value, changedAt: changed ? now : panel.changedAt, error: undefined });
    } else if (at > currentAt) {
      const history = [...panel.history, panel.current].slice(-MAX_HISTORY);
      next.set(value.kpiCode, { ...panel, current: value, history, changedAt: now, error: undefined });
    } else {
      const history = panel.history.map((old) => (bucketTime(old) === at ? value : old));
      next.set(value.kpiCode, { ...panel, history });
    }
  }
  for (const failure of update.errors) {
    const panel = next.get(failure.kpiCode) ?? { history: [] };
    next.set(failure.kpiCode, { ...panel, error: errorText(failure.status?.message ?? "failed") });
  }
  return next;
}
