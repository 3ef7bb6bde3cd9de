// The shell: sign-in first, then the navigation and the pages.
import { useState } from "react";
import { BrowserRouter, Navigate, NavLink, Route, Routes } from "react-router-dom";
import { IdentityContext } from "./auth/IdentityContext";
import { SignInPage } from "./auth/SignInPage";
import { loadSession, saveSession, type Session } from "./auth/session";
import { CatalogPage } from "./catalog/CatalogPage";
import { KpiPage } from "./catalog/KpiPage";
import { useCart } from "./common/cart";
import { ClientEditor } from "./config/ClientEditor";
import { ClientsPage } from "./config/ClientsPage";
import { DashboardPage } from "./dashboard/DashboardPage";
import { ObjectModelsPage } from "./models/ObjectModelsPage";
import { ProposalWizard } from "./proposals/ProposalWizard";

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [cart] = useCart();
  if (!session) return <SignInPage onSignedIn={setSession} />;
  const { identity } = session;
  return (
    <IdentityContext.Provider value={identity}>
      <BrowserRouter>
        <nav className="topbar">
          <span className="brand">Analytics Engine</span>
          <NavLink to="/catalog">Catalog</NavLink>
          <NavLink to="/models">Object models</NavLink>
          <NavLink to="/dashboard">
            Dashboard <span className="count" data-testid="cart-count">{cart.length}</span>
          </NavLink>
          <NavLink to="/clients">Clients</NavLink>
          <NavLink to="/proposals/new">Proposal</NavLink>
          <span className="spacer" />
          <span className="who" data-testid="who">
            {identity.role} · {identity.clientId}
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
          <Routes>
            <Route path="/" element={<Navigate to="/catalog" replace />} />
            <Route path="/catalog" element={<CatalogPage />} />
            <Route path="/catalog/kpis/:code" element={<KpiPage />} />
            <Route path="/models" element={<ObjectModelsPage />} />
            <Route path="/dashboard" element={<DashboardPage />} />
            <Route path="/clients" element={<ClientsPage />} />
            <Route path="/clients/:clientId" element={<ClientEditor />} />
            <Route path="/proposals/new" element={<ProposalWizard />} />
            <Route path="*" element={<p className="error">No such page.</p>} />
          </Routes>
        </main>
      </BrowserRouter>
    </IdentityContext.Provider>
  );
}
