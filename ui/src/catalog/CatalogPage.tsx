// The KPI catalog: browse by value chain and module, search, and add KPIs to the cart.
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { catalog } from "../api/clients";
import { useCart } from "../common/cart";
import { directionText } from "../common/format";
import { ErrorBox, Loading } from "../common/Status";
import { useAsync } from "../common/useAsync";

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const valueChain = params.get("chain") ?? "";
  const module = params.get("module") ?? "";
  const search = params.get("q") ?? "";
  const [draft, setDraft] = useState(search);
  const [cart, setCart] = useCart();

  const chains = useAsync((signal) => catalog.listValueChains({}, { signal }), []);
  const modules = useAsync(
    (signal) => catalog.listModules({ valueChainCode: valueChain }, { signal }),
    [valueChain],
  );
  const kpis = useAsync(
    (signal) =>
      catalog.listKpis({ valueChainCode: valueChain, moduleCode: module, search }, { signal }),
    [valueChain, module, search],
  );

  const choose = (next: Record<string, string>) => {
    const merged = new URLSearchParams(params);
    for (const [key, value] of Object.entries(next)) {
      if (value) merged.set(key, value);
      else merged.delete(key);
    }
    setParams(merged);
  };

  return (
    <div className="catalog">
      <aside className="facets">
        <h2>Value chains</h2>
        {chains.loading && !chains.value && <Loading what="value chains" />}
        {chains.error !== undefined && <ErrorBox error={chains.error} retry={chains.reload} />}
        <ul className="facet-list">
          <li>
            <button
              type="button"
              className={valueChain === "" ? "active" : ""}
              onClick={() => choose({ chain: "", module: "" })}
            >
              All
            </button>
          </li>
          {chains.value?.valueChains.map((chain) => (
            <li key={chain.code}>
              <button
                type="button"
                className={valueChain === chain.code ? "active" : ""}
                onClick={() => choose({ chain: chain.code, module: "" })}
                title={chain.description}
              >
                {chain.name} <span className="count">{chain.kpiCount}</span>
              </button>
            </li>
          ))}
        </ul>
        <h2>Modules</h2>
        {modules.error !== undefined && <ErrorBox error={modules.error} retry={modules.reload} />}
        <ul className="facet-list">
          {modules.value?.modules.map((m) => (
            <li key={m.code}>
              <button
                type="button"
                className={module === m.code ? "active" : ""}
                onClick={() => choose({ module: module === m.code ? "" : m.code })}
                title={m.description}
              >
                {m.name} <span className="count">{m.kpiCount}</span>
              </button>
            </li>
          ))}
        </ul>
      </aside>
      <section className="kpi-list">
        <form
          className="search"
          onSubmit={(event) => {
            event.preventDefault();
            choose({ q: draft.trim() });
          }}
        >
          <input
            type="search"
            aria-label="Search KPIs"
            placeholder="Search KPIs by name, code or description"
            value={draft}
            onChange={(event) => setDraft(event.target.value)}
          />
          <button type="submit">Search</button>
        </form>
        {kpis.loading && <Loading what="KPIs" />}
        {kpis.error !== undefined && <ErrorBox error={kpis.error} retry={kpis.reload} />}
        {kpis.value && !kpis.loading && (
          <>
            <p className="list-header">
              <span className="muted" data-testid="kpi-count">
                {kpis.value.kpis.length} KPIs
              </span>
              {cart.length > 0 && (
                <span>
                  <Link to="/dashboard">Open the dashboard with the {cart.length} KPIs in the cart</Link>{" "}
                  <button type="button" className="link" onClick={() => setCart([])}>
                    (empty the cart)
                  </button>
                </span>
              )}
            </p>
            <table className="grid">
              <thead>
                <tr>
                  <th>KPI</th>
                  <th>Module</th>
                  <th>Unit</th>
                  <th>Direction</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {kpis.value.kpis.map((kpi) => (
                  <tr key={kpi.code} data-kpi={kpi.code}>
                    <td>
                      <Link to={`/catalog/kpis/${kpi.code}`}>{kpi.name}</Link>
                      <div className="code">{kpi.code}</div>
                    </td>
                    <td>{kpi.moduleCode}</td>
                    <td>{kpi.unit}</td>
                    <td>{directionText(kpi.direction)}</td>
                    <td>
                      {cart.includes(kpi.code) ? (
                        <button type="button" onClick={() => setCart(cart.filter((c) => c !== kpi.code))}>
                          Remove
                        </button>
                      ) : (
                        <button type="button" onClick={() => setCart([...cart, kpi.code])}>
                          Add to cart
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </div>
  );
}
