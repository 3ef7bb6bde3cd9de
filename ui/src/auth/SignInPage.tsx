// Development sign-in: pick a role and a client; the ui server mints a token for that identity.
// A production deployment signs users in with its identity provider instead.
import { useState } from "react";
import { errorText } from "../common/format";
import { ROLES, TENANT_ROLES, signIn, type Role, type Session } from "./session";

export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [role, setRole] = useState<Role>("analyst");
  const [clientId, setClientId] = useState("demo");
  const [region, setRegion] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();

  const submit = async () => {
    if (!clientId.trim()) {
      setProblem("Name the client to work on.");
      return;
    }
    setBusy(true);
    setProblem(undefined);
    try {
      const attributes: Record<string, string> = region.trim() ? { region: region.trim() } : {};
      onSignedIn(await signIn({ role, clientId: clientId.trim(), attributes }));
    } catch (error) {
      setProblem(errorText(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <h1>Analytics Engine</h1>
        <p className="muted">Sign in with a development identity.</p>
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Client
          <input name="client" value={clientId} onChange={(e) => setClientId(e.target.value)} />
          <small className="muted">
            {TENANT_ROLES.has(role) ? "the token is bound to this client" : "acts for this client (admin and operator may choose any)"}
          </small>
        </label>
        <label>
          Region claim (optional, for row-level security)
          <input name="region" value={region} onChange={(e) => setRegion(e.target.value)} />
        </label>
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
