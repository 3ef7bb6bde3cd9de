// ONE StreamDashboard stream for every visible panel of a dashboard, reopened when the set of
// KPIs, the client or the period changes, and reconnected with exponential backoff when it breaks
// (a fresh snapshot then brings every panel back to the current values).
import { useEffect, useRef, useState } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { StreamEndReason } from "@sdk/analytics/gateway/v1/stream_pb.js";
import type { Period } from "@sdk/analytics/type/v1/types_pb.js";
import { streams } from "../api/clients";
import { errorText, toDate } from "../common/format";
import { applySnapshot, applyUpdate, type Panels } from "./liveState";

export type LiveStatus = "idle" | "connecting" | "live" | "reconnecting" | "disconnected";

export interface DashboardStream {
  status: LiveStatus;
  panels: Panels;
  nextBucketStart?: Date;
  lastMessageAt?: Date;
  /** Why the last attempt failed, shown beside the indicator. */
  problem?: string;
  /** When the next reconnect attempt starts, while waiting for it. */
  retryAt?: Date;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
/** After this many failed attempts in a row the dashboard says "disconnected" (still retrying). */
const ATTEMPTS_BEFORE_DISCONNECTED = 4;
/** Without any message (heartbeats included) for this long, the stream is presumed dead. */
const DEFAULT_SILENCE_MS = 40_000;

/** Refusals that stay refusals: reconnecting would only repeat them. */
const FINAL_CODES: ReadonlySet<Code> = new Set([Code.InvalidArgument, Code.NotFound, Code.PermissionDenied]);

class StreamEnded extends Error {}

function retryDelay(attempt: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function useDashboardStream(codes: readonly string[], clientId: string, period: Period): DashboardStream {
  const [state, setState] = useState<DashboardStream>({ status: "idle", panels: new Map() });
  const key = `${[...codes].sort().join(",")}|${clientId}|${period}`;
  const panelsRef = useRef<Panels>(new Map());

  useEffect(() => {
    if (codes.length === 0) {
      setState((s) => ({ ...s, status: "idle" }));
      return;
    }
    const stop = new AbortController();
    let attempt = 0;
    const update = (change: Partial<DashboardStream>) => setState((s) => ({ ...s, ...change }));

    const run = async () => {
      update({ status: "connecting", retryAt: undefined });
      while (!stop.signal.aborted) {
        const call = new AbortController();
        const abortCall = () => call.abort();
        stop.signal.addEventListener("abort", abortCall);
        let silenceLimit = DEFAULT_SILENCE_MS;
        let watchdog = setTimeout(abortCall, silenceLimit);
        try {
          // Marks on the page's timeline, for the browser benchmark and for profiling.
          performance.mark("ae:stream-open");
          const messages = streams.streamDashboard(
            { kpiCodes: [...codes], clientId, period, historyBuckets: 30, dashboardId: "ui" },
            { signal: call.signal },
          );
          for await (const message of messages) {
            clearTimeout(watchdog);
            watchdog = setTimeout(abortCall, silenceLimit);
            const now = new Date();
            const event = message.event;
            if (event.case === "snapshot") {
              performance.mark("ae:snapshot");
              attempt = 0;
              const interval = event.value.heartbeatInterval;
              if (interval) silenceLimit = Number(interval.seconds) * 2000 + 10_000;
              panelsRef.current = applySnapshot(panelsRef.current, event.value, now);
              update({
                status: "live",
                panels: panelsRef.current,
                nextBucketStart: toDate(event.value.nextBucketStart),
                lastMessageAt: now,
                problem: undefined,
                retryAt: undefined,
              });
            } else if (event.case === "update") {
              panelsRef.current = applyUpdate(panelsRef.current, event.value, now);
              const nextBucket = toDate(event.value.nextBucketStart);
              update({
                panels: panelsRef.current,
                lastMessageAt: now,
                ...(nextBucket ? { nextBucketStart: nextBucket } : {}),
              });
            } else if (event.case === "heartbeat") {
              update({ nextBucketStart: toDate(event.value.nextBucketStart), lastMessageAt: now });
            } else if (event.case === "end") {
              const reason = StreamEndReason[event.value.reason] ?? "ended";
              throw new StreamEnded(event.value.status?.message || `stream ended (${reason.toLowerCase()})`);
            }
          }
          throw new StreamEnded("the server closed the stream");
        } catch (error) {
          if (stop.signal.aborted) return;
          if (error instanceof ConnectError && FINAL_CODES.has(error.code)) {
            update({ status: "disconnected", problem: errorText(error), retryAt: undefined });
            return; // asking again for the same thing cannot help
          }
          attempt += 1;
          const delay = retryDelay(attempt - 1);
          update({
            status: attempt > ATTEMPTS_BEFORE_DISCONNECTED ? "disconnected" : "reconnecting",
            problem: call.signal.aborted ? "no message from the server for too long" : errorText(error),
            retryAt: new Date(Date.now() + delay),
          });
          await sleep(delay, stop.signal);
        } finally {
          clearTimeout(watchdog);
          stop.signal.removeEventListener("abort", abortCall);
        }
      }
    };
    void run();
    return () => stop.abort();
    // The key captures codes, client and period: a new array with the same codes is the same stream.
  }, [key]);

  return state;
}
