// The live dashboard: KPIs from the cart (or `?kpis=` in the address), a period remembered
// between visits, one stream for the panels on screen, and a KPI's detail on demand.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { Period } from "@sdk/analytics/type/v1/types_pb.js";
import { catalog, clientConfig } from "../api/clients";
import { useCart } from "../common/cart";
import { errorText, formatTime } from "../common/format";
import { ErrorBox } from "../common/Status";
import { useAsync } from "../common/useAsync";
import { useIdentity } from "../auth/IdentityContext";
import { KpiDetail } from "./KpiDetail";
import { Panel, type ChartKind, type PanelMeta } from "./Panel";
import { useDashboardStream, type LiveStatus } from "./useDashboardStream";

const PERIOD_KEY = "ae.dashboard.period";
/** Visibility changes settle this long before the stream is reopened for the new set. */
const SETTLE_MS = 60;
const CHARTS_KEY = "ae.dashboard.charts";
const PERIODS: [Period, string][] = [
  [Period.MINUTE, "Minute"],
  [Period.HOUR, "Hour"],
  [Period.DAY, "Day"],
];

function storedPeriod(): Period {
  const stored = Number(localStorage.getItem(PERIOD_KEY));
  return PERIODS.some(([p]) => p === stored) ? (stored as Period) : Period.MINUTE;
}

function storedCharts(): Record<string, ChartKind> {
  try {
    return JSON.parse(localStorage.getItem(CHARTS_KEY) ?? "{}") as Record<string, ChartKind>;
  } catch {
    return {};
  }
}

/** The codes of the panels currently on screen, settled for a moment so scrolling does not
 *  reopen the stream on every frame. */
function useVisibleCodes(all: string[]): [string[], (code: string, visible: boolean) => void] {
  const [visible, setVisible] = useState<ReadonlySet<string>>(new Set());
  const [settled, setSettled] = useState<string[]>([]);
  const report = useCallback((code: string, isVisible: boolean) => {
    setVisible((previous) => {
      if (previous.has(code) === isVisible) return previous;
      const next = new Set(previous);
      if (isVisible) next.add(code);
      else next.delete(code);
      return next;
    });
  }, []);
  useEffect(() => {
    const next = all.filter((c) => visible.has(c));
    // The first set opens the stream at once; later changes (scrolling) settle first.
    if (settled.length === 0) {
      setSettled(next);
      return;
    }
    const timer = setTimeout(() => setSettled(next), SETTLE_MS);
    return () => clearTimeout(timer);
    // `settled` is read, not watched: setting it must not schedule another round.
  }, [visible, all]);
  return [settled, report];
}

export function DashboardPage() {
  const identity = useIdentity();
  const [params] = useSearchParams();
  const [cart] = useCart();
  const fromAddress = params.get("kpis");
  const codes = useMemo(
    () => (fromAddress ? fromAddress.split(",").filter(Boolean) : cart),
    [fromAddress, cart],
  );
  const [period, setPeriod] = useState<Period>(storedPeriod);
  const [charts, setCharts] = useState(storedCharts);
  const [detail, setDetail] = useState<string>();
  const [visibleCodes, reportVisible] = useVisibleCodes(codes);
  const stream = useDashboardStream(visibleCodes, identity.clientId, period);

  const definitions = useAsync((signal) => catalog.listKpis({}, { signal }), []);
  const metas = useMemo(() => {
    const known = new Map(definitions.value?.kpis.map((k) => [k.code, k]));
    return codes.map<PanelMeta>((code) => {
      const kpi = known.get(code);
      return { code, name: kpi?.name ?? code, unit: kpi?.unit ?? "", target: kpi?.target };
    });
  }, [codes, definitions.value]);

  const choosePeriod = (next: Period) => {
    localStorage.setItem(PERIOD_KEY, String(next));
    setPeriod(next);
  };
  const chooseChart = useCallback((code: string, kind: ChartKind) => {
    setCharts((previous) => {
      const next = { ...previous, [code]: kind };
      localStorage.setItem(CHARTS_KEY, JSON.stringify(next));
      return next;
    });
  }, []);

  if (codes.length === 0) {
    return (
      <div className="empty">
        <h1>Dashboard</h1>
        <p>
          No KPIs yet: add some to the cart in the <Link to="/catalog">catalog</Link>, or show the
          client's selection.
        </p>
        <KpiSource clientId={identity.clientId} fromAddress={false} />
      </div>
    );
  }
  const detailMeta = metas.find((m) => m.code === detail);

  return (
    <div className="dashboard">
      <header className="toolbar">
        <h1>Dashboard</h1>
        <div className="segmented" role="group" aria-label="Period">
          {PERIODS.map(([value, label]) => (
            <button
              key={value}
              type="button"
              className={period === value ? "active" : ""}
              aria-pressed={period === value}
              onClick={() => choosePeriod(value)}
            >
              {label}
            </button>
          ))}
        </div>
        <LiveIndicator status={stream.status} problem={stream.problem} retryAt={stream.retryAt} />
        <span className="muted">last message {formatTime(stream.lastMessageAt)}</span>
        <span className="muted">client {identity.clientId || "—"}</span>
        <KpiSource clientId={identity.clientId} fromAddress={fromAddress !== null} />
      </header>
      {definitions.error !== undefined && <ErrorBox error={definitions.error} retry={definitions.reload} />}
      <div className="panels" data-testid="panels">
        {metas.map((meta) => (
          <Panel
            key={meta.code}
            meta={meta}
            data={stream.panels.get(meta.code)}
            period={period}
            nextBucketStart={stream.nextBucketStart}
            chart={charts[meta.code] ?? "tile"}
            onChart={chooseChart}
            onDrill={setDetail}
            onVisible={reportVisible}
          />
        ))}
      </div>
      {detailMeta && <KpiDetail meta={detailMeta} clientId={identity.clientId} onClose={() => setDetail(undefined)} />}
    </div>
  );
}

const STATUS_TEXT: Record<LiveStatus, string> = {
  idle: "idle",
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  disconnected: "disconnected",
};

function LiveIndicator({ status, problem, retryAt }: { status: LiveStatus; problem?: string; retryAt?: Date }) {
  return (
    <span className={`live live-${status}`} data-testid="live-status" data-status={status} title={problem}>
      <span className="dot" aria-hidden="true" />
      {STATUS_TEXT[status]}
      {retryAt && status !== "live" && <span className="muted"> · retry {formatTime(retryAt)}</span>}
    </span>
  );
}

/** Where the dashboard's KPIs come from: the cart, or the client's configured selection. */
function KpiSource({ clientId, fromAddress }: { clientId: string; fromAddress: boolean }) {
  const navigate = useNavigate();
  const [problem, setProblem] = useState<string>();
  const showClientSelection = async () => {
    setProblem(undefined);
    try {
      const { client } = await clientConfig.getClient({ clientId });
      const selected = client?.selectedKpis.map((k) => k.kpiCode) ?? [];
      if (selected.length === 0) setProblem(`${clientId} has no KPIs selected yet`);
      else navigate(`/dashboard?kpis=${selected.join(",")}`);
    } catch (error) {
      setProblem(errorText(error));
    }
  };
  return (
    <span className="kpi-source">
      {fromAddress && (
        <button type="button" onClick={() => navigate("/dashboard")}>
          Cart's KPIs
        </button>
      )}
      <button type="button" onClick={() => void showClientSelection()}>
        Client's KPIs
      </button>
      {problem && <span className="error-text"> {problem}</span>}
    </span>
  );
}
