// The shell: sign-in first, then the navigation the signed-in role may use and the pages, each
// loaded on first visit (the first page downloads only what it shows).
import { lazy, Suspense, useState, type ComponentType, type ReactNode } from "react";
import { BrowserRouter, Navigate, NavLink, Route, Routes } from "react-router-dom";
import { deniedText, may, type Feature } from "./auth/access";
import { IdentityContext } from "./auth/IdentityContext";
import { SignInPage } from "./auth/SignInPage";
import { loadSession, saveSession, type Role, type Session } from "./auth/session";
import { useCart } from "./common/cart";

/** A page's module, fetched when its route is first shown. */
function page<M>(load: () => Promise<M>, pick: (module: M) => ComponentType) {
  return lazy(async () => ({ default: pick(await load()) }));
}

const CatalogPage = page(() => import("./catalog/CatalogPage"), (m) => m.CatalogPage);
const KpiPage = page(() => import("./catalog/KpiPage"), (m) => m.KpiPage);
const ObjectModelsPage = page(() => import("./models/ObjectModelsPage"), (m) => m.ObjectModelsPage);
const DashboardPage = page(() => import("./dashboard/DashboardPage"), (m) => m.DashboardPage);
const ClientsPage = page(() => import("./config/ClientsPage"), (m) => m.ClientsPage);
const ClientEditor = page(() => import("./config/ClientEditor"), (m) => m.ClientEditor);
const ProposalWizard = page(() => import("./proposals/ProposalWizard"), (m) => m.ProposalWizard);
const ProposalsPage = page(() => import("./proposals/ProposalsPage"), (m) => m.ProposalsPage);
const ProposalPage = page(() => import("./proposals/ProposalPage"), (m) => m.ProposalPage);

/** The page when the role may use it, else a sentence saying why not. */
function Allowed({ role, feature, children }: { role: Role; feature: Feature; children: ReactNode }) {
  if (may(role, feature)) return children;
  return (
    <div className="error denied" role="alert" data-testid="denied">
      {deniedText(role, feature)}
    </div>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [cart] = useCart();
  if (!session) return <SignInPage onSignedIn={setSession} />;
  const { identity } = session;
  const { role } = identity;
  const guard = (feature: Feature, element: ReactNode) => (
    <Allowed role={role} feature={feature}>
      {element}
    </Allowed>
  );
  return (
    <IdentityContext.Provider value={identity}>
      <BrowserRouter>
        <nav className="topbar" data-testid="nav">
          <span className="brand">Analytics Engine</span>
          <NavLink to="/catalog">Catalog</NavLink>
          <NavLink to="/models">Object models</NavLink>
          {may(role, "dashboard") && (
            <NavLink to="/dashboard">
              Dashboard <span className="count" data-testid="cart-count">{cart.length}</span>
            </NavLink>
          )}
          {may(role, "clients") && <NavLink to="/clients">Clients</NavLink>}
          {may(role, "proposals") && (
            <NavLink to="/proposals" end>
              Proposals
            </NavLink>
          )}
          {may(role, "proposalWizard") && <NavLink to="/proposals/new">New proposal</NavLink>}
          <span className="spacer" />
          <span className="who" data-testid="who">
            {role} · {identity.clientId}
          </span>
          <button
            type="button"
            onClick={() => {
              saveSession(null);
              setSession(null);
            }}
          >
            Sign out
          </button>
        </nav>
        <main className="page">
          <Suspense
            fallback={
              <div className="loading" role="status">
                <span className="spinner" aria-hidden="true" /> Loading the page…
              </div>
            }
          >
            <Routes>
              <Route path="/" element={<Navigate to="/catalog" replace />} />
              <Route path="/catalog" element={<CatalogPage />} />
              <Route path="/catalog/kpis/:code" element={<KpiPage />} />
              <Route path="/models" element={<ObjectModelsPage />} />
              <Route path="/dashboard" element={guard("dashboard", <DashboardPage />)} />
              <Route path="/clients" element={guard("clients", <ClientsPage />)} />
              <Route path="/clients/:clientId" element={guard("clients", <ClientEditor />)} />
              <Route path="/proposals" element={guard("proposals", <ProposalsPage />)} />
              <Route path="/proposals/new" element={guard("proposalWizard", <ProposalWizard />)} />
              <Route path="/proposals/:proposalId" element={guard("proposals", <ProposalPage />)} />
              <Route path="*" element={<p className="error">No such page.</p>} />
            </Routes>
          </Suspense>
        </main>
      </BrowserRouter>
    </IdentityContext.Provider>
  );
}
