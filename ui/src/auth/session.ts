// Who is signed in: a development identity (role, client) picked on the sign-in screen, and the
// bearer token the ui server minted for it. Kept in localStorage so a reload stays signed in.

export type Role = "admin" | "analyst" | "manager" | "sales" | "operator";

export const ROLES: readonly Role[] = ["admin", "analyst", "manager", "sales", "operator"];

/** Roles that act for one client (their token names it); the others see across clients. */
export const TENANT_ROLES: ReadonlySet<Role> = new Set<Role>(["analyst", "manager", "sales"]);

export interface Identity {
  role: Role;
  /** The client the user works on: the token's tenant, or the client an admin acts for. */
  clientId: string;
  attributes: Record<string, string>;
}

export interface Session {
  identity: Identity;
  token: string | null;
  /** Epoch milliseconds after which the token must be replaced. */
  expiresAt: number;
}

const STORAGE_KEY = "ae.session";

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else localStorage.removeItem(STORAGE_KEY);
}

interface DevTokenReply {
  token: string;
  expiresIn: number;
}

/** Asks the ui server for a development token; null when it offers none (production). */
export async function mintDevToken(identity: Identity): Promise<DevTokenReply | null> {
  const response = await fetch("/ui/dev-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      role: identity.role,
      clientId: TENANT_ROLES.has(identity.role) ? identity.clientId : "",
      attributes: identity.attributes,
    }),
  });
  if (response.status === 404) return null;
  if (!response.ok) {
    const text = await response.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: keep the text
    }
    throw new Error(`sign-in failed: ${message}`);
  }
  return (await response.json()) as DevTokenReply;
}

export async function signIn(identity: Identity): Promise<Session> {
  const minted = await mintDevToken(identity);
  const session: Session = {
    identity,
    token: minted?.token ?? null,
    expiresAt: minted ? Date.now() + minted.expiresIn * 1000 : Number.MAX_SAFE_INTEGER,
  };
  saveSession(session);
  return session;
}

/** A valid token for the stored identity, minting a fresh one shortly before expiry. */
export async function currentToken(): Promise<string | null> {
  const session = loadSession();
  if (!session) return null;
  if (session.token && session.expiresAt - Date.now() > 60_000) return session.token;
  if (!session.token && session.expiresAt === Number.MAX_SAFE_INTEGER) return null;
  const renewed = await signIn(session.identity);
  return renewed.token;
}
