// Display helpers shared by every page: numbers with their unit, times, and readable errors.
import { ConnectError, Code } from "@connectrpc/connect";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Direction, NoValueReason, Period } from "@sdk/analytics/type/v1/types_pb.js";

// One formatter of each kind, made once: `toLocaleString` builds a new one on every call, which
// shows when a hundred panels re-render.
const NUMBER_FORMATS = [0, 1, 2].map((digits) => new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }));
const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const DATE_TIME = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });
const HOUR_MINUTE = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });
const DAY_MONTH = new Intl.DateTimeFormat("en-GB", { day: "2-digit", month: "short" });

export function formatValue(value: number | undefined, unit = ""): string {
  if (value === undefined || Number.isNaN(value)) return "—";
  const abs = Math.abs(value);
  const text = NUMBER_FORMATS[abs >= 1000 ? 0 : abs >= 100 ? 1 : 2].format(value);
  if (!unit) return text;
  return unit === "%" ? `${text}%` : `${text} ${unit}`;
}

export function noValueText(reason: NoValueReason): string {
  switch (reason) {
    case NoValueReason.NO_DATA:
      return "no data";
    case NoValueReason.DIVISION_BY_ZERO:
      return "n/a (nothing to divide by)";
    case NoValueReason.NOT_PERMITTED:
      return "not permitted";
    default:
      return "—";
  }
}

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function formatTime(date: Date | undefined, withDate = false): string {
  if (!date) return "—";
  return (withDate ? DATE_TIME : TIME).format(date);
}

export function formatBucket(date: Date | undefined, period: Period): string {
  if (!date) return "—";
  return (period === Period.MINUTE || period === Period.HOUR ? HOUR_MINUTE : DAY_MONTH).format(date);
}

export function directionText(direction: Direction): string {
  switch (direction) {
    case Direction.HIGHER_IS_BETTER:
      return "higher is better";
    case Direction.LOWER_IS_BETTER:
      return "lower is better";
    case Direction.TARGET_IS_BEST:
      return "closest to target is best";
    default:
      return "—";
  }
}

export const PERIOD_NAMES: Record<number, string> = {
  [Period.MINUTE]: "minute",
  [Period.HOUR]: "hour",
  [Period.DAY]: "day",
  [Period.WEEK]: "week",
  [Period.MONTH]: "month",
};

/** A message a person can act on, with the field names a BadRequest points at. */
export function errorText(error: unknown): string {
  if (error instanceof ConnectError) {
    const what: Record<number, string> = {
      [Code.NotFound]: "Not found",
      [Code.InvalidArgument]: "Invalid request",
      [Code.PermissionDenied]: "Not permitted",
      [Code.Unauthenticated]: "Please sign in again",
      [Code.Unavailable]: "Service unavailable",
      [Code.Unimplemented]: "Not available yet",
      [Code.DeadlineExceeded]: "Timed out",
      [Code.ResourceExhausted]: "Too many requests",
    };
    const prefix = what[error.code] ?? Code[error.code];
    return `${prefix}: ${error.rawMessage || "no details"}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
