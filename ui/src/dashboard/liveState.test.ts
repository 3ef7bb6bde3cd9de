import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { StreamSnapshotSchema, StreamUpdateSchema } from "@sdk/analytics/gateway/v1/stream_pb.js";
import { KpiValueSchema } from "@sdk/analytics/type/v1/types_pb.js";
import { applySnapshot, applyUpdate, type Panels } from "./liveState";

const T0 = new Date("2026-03-01T10:00:00Z");
const T1 = new Date("2026-03-01T10:01:00Z");
const T2 = new Date("2026-03-01T10:02:00Z");
const EARLIER = new Date("2026-03-01T09:00:00Z");
const NOW = new Date("2026-03-01T10:01:30Z");

function value(kpiCode: string, bucket: Date, v: number, dimensions: Record<string, string> = {}) {
  return create(KpiValueSchema, { kpiCode, value: v, bucketStart: timestampFromDate(bucket), dimensions });
}

function snapshotOf(current: number): Panels {
  const snapshot = create(StreamSnapshotSchema, {
    kpis: [{ kpiCode: "A", current: value("A", T1, current), history: [value("A", T0, 1)] }],
  });
  return applySnapshot(new Map(), snapshot, EARLIER);
}

describe("applySnapshot", () => {
  it("takes each KPI's current value and history", () => {
    const panels = snapshotOf(5);
    expect(panels.get("A")?.current?.value).toBe(5);
    expect(panels.get("A")?.history.map((h) => h.value)).toEqual([1]);
    expect(panels.get("A")?.changedAt).toEqual(EARLIER);
  });

  it("keeps the change time when a reconnect's snapshot repeats the value", () => {
    const again = create(StreamSnapshotSchema, { kpis: [{ kpiCode: "A", current: value("A", T1, 5), history: [] }] });
    expect(applySnapshot(snapshotOf(5), again, NOW).get("A")?.changedAt).toEqual(EARLIER);
  });

  it("shows a KPI that cannot be streamed as an error panel", () => {
    const snapshot = create(StreamSnapshotSchema, { errors: [{ kpiCode: "B", status: { message: "unknown KPI B" } }] });
    expect(applySnapshot(new Map(), snapshot, NOW).get("B")).toEqual({ history: [], error: "unknown KPI B" });
  });
});

describe("applyUpdate", () => {
  it("replaces the value of the same bucket and marks the change", () => {
    const next = applyUpdate(snapshotOf(5), create(StreamUpdateSchema, { values: [value("A", T1, 7)] }), NOW);
    expect(next.get("A")?.current?.value).toBe(7);
    expect(next.get("A")?.history).toHaveLength(1);
    expect(next.get("A")?.changedAt).toEqual(NOW);
  });

  it("closes the current bucket into history when a newer one arrives", () => {
    const next = applyUpdate(snapshotOf(5), create(StreamUpdateSchema, { values: [value("A", T2, 2)] }), NOW);
    expect(next.get("A")?.current?.value).toBe(2);
    expect(next.get("A")?.history.map((h) => h.value)).toEqual([1, 5]);
  });

  it("corrects a closed bucket in place without touching the current value", () => {
    const next = applyUpdate(snapshotOf(5), create(StreamUpdateSchema, { values: [value("A", T0, 9)] }), NOW);
    expect(next.get("A")?.current?.value).toBe(5);
    expect(next.get("A")?.history.map((h) => h.value)).toEqual([9]);
  });

  it("ignores breakdown values, which are not panel values", () => {
    const before = snapshotOf(5);
    const next = applyUpdate(before, create(StreamUpdateSchema, { values: [value("A", T1, 99, { region: "EU" })] }), NOW);
    expect(next.get("A")).toEqual(before.get("A"));
  });

  it("keeps the last value when the KPI fails, with the reason", () => {
    const update = create(StreamUpdateSchema, { errors: [{ kpiCode: "A", status: { message: "calculation unavailable" } }] });
    const next = applyUpdate(snapshotOf(5), update, NOW);
    expect(next.get("A")?.current?.value).toBe(5);
    expect(next.get("A")?.error).toContain("calculation unavailable");
  });

  it("does not change the panels it was given", () => {
    const before = snapshotOf(5);
    applyUpdate(before, create(StreamUpdateSchema, { values: [value("A", T2, 2)] }), NOW);
    expect(before.get("A")?.current?.value).toBe(5);
  });
});
