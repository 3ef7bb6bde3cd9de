// One KPI: what it measures, how it is computed, what data it needs, what drives it, and a
// preview over the catalog's sample data.
import { Link, useParams } from "react-router-dom";
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { KpiDefinition } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { catalog } from "../api/clients";
import { useCart } from "../common/cart";
import { directionText, formatBucket, formatValue, toDate } from "../common/format";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";

export function KpiPage() {
  const { code = "" } = useParams();
  const [cart, setCart] = useCart();
  const kpi = useAsync((signal) => catalog.getKpi({ code }, { signal }), [code]);
  const sample = useAsync((signal) => catalog.getKpiSample({ kpiCode: code }, { signal }), [code]);

  if (kpi.loading) return <Loading what={`KPI ${code}`} />;
  if (kpi.error !== undefined || !kpi.value?.kpi) return <ErrorBox error={kpi.error} retry={kpi.reload} />;
  const definition = kpi.value.kpi;
  const inCart = cart.includes(definition.code);

  return (
    <article className="kpi-page">
      <p className="breadcrumbs">
        <Link to="/catalog">Catalog</Link> ›{" "}
        <Link to={`/catalog?chain=${definition.valueChainCode}`}>{definition.valueChainCode}</Link> ›{" "}
        <Link to={`/catalog?chain=${definition.valueChainCode}&module=${definition.moduleCode}`}>
          {definition.moduleCode}
        </Link>
      </p>
      <header className="kpi-header">
        <div>
          <h1>{definition.name}</h1>
          <div className="code">{definition.code}</div>
        </div>
        <button
          type="button"
          className={inCart ? "" : "primary"}
          onClick={() =>
            setCart(inCart ? cart.filter((c) => c !== definition.code) : [...cart, definition.code])
          }
        >
          {inCart ? "Remove from cart" : "Add to cart"}
        </button>
      </header>
      <p>{definition.description}</p>
      <dl className="facts">
        <dt>Formula</dt>
        <dd>
          <pre className="formula" data-testid="formula">
            {definition.formula}
          </pre>
        </dd>
        <dt>Unit</dt>
        <dd>{definition.unit || "—"}</dd>
        <dt>Direction</dt>
        <dd>{directionText(definition.direction)}</dd>
        {definition.target !== undefined && (
          <>
            <dt>Target</dt>
            <dd>{formatValue(definition.target, definition.unit)}</dd>
          </>
        )}
        <dt>Required object models</dt>
        <dd>
          {definition.requiredObjectModelCodes.map((model) => (
            <Link key={model} className="chip" to={`/models?focus=${model}`}>
              {model}
            </Link>
          ))}
        </dd>
        {definition.tags.length > 0 && (
          <>
            <dt>Tags</dt>
            <dd>{definition.tags.join(", ")}</dd>
          </>
        )}
      </dl>
      {definition.componentKpiCodes.length > 0 && (
        <section>
          <h2>Driver tree</h2>
          <DriverTree root={definition} />
        </section>
      )}
      <section>
        <h2>Preview (sample data)</h2>
        {sample.loading && <Loading what="sample" />}
        {sample.error !== undefined && <ErrorBox error={sample.error} retry={sample.reload} />}
        {sample.value && (
          <div className="chart" data-testid="sample-chart">
            <ResponsiveContainer width="100%" height={240}>
              <LineChart
                data={sample.value.points.map((p) => ({
                  bucket: formatBucket(toDate(p.bucketStart), sample.value!.period),
                  value: p.value,
                }))}
              >
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="bucket" />
                <YAxis />
                <Tooltip formatter={(v) => formatValue(Number(v), definition.unit)} />
                <Line type="monotone" dataKey="value" stroke="#2563eb" dot={false} isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          </div>
        )}
      </section>
    </article>
  );
}

/** The KPIs a derived KPI is built from, fetched level by level. */
function DriverTree({ root }: { root: KpiDefinition }) {
  return (
    <ul className="tree">
      <DriverNode definition={root} depth={0} />
    </ul>
  );
}

function DriverNode({ definition, depth }: { definition: KpiDefinition; depth: number }) {
  return (
    <li>
      <Link to={`/catalog/kpis/${definition.code}`}>{definition.name}</Link>{" "}
      <span className="code">{definition.code}</span>
      {depth < 4 && definition.componentKpiCodes.length > 0 && (
        <ul>
          {definition.componentKpiCodes.map((code) => (
            <DriverChild key={code} code={code} depth={depth + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}

function DriverChild({ code, depth }: { code: string; depth: number }) {
  const child = useAsync((signal) => catalog.getKpi({ code }, { signal }), [code]);
  if (child.loading) return <li className="muted">{code}…</li>;
  if (!child.value?.kpi) return <li className="muted">{code} (not in the catalog)</li>;
  return <DriverNode definition={child.value.kpi} depth={depth} />;
}
