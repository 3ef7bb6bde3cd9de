// What each role may use in the app: the browser's reading of the role table the services enforce
// (services/security/permissions.py). Hiding is a courtesy; the services refuse regardless.
import type { Role } from "./session";

export type Feature =
  | "catalog"
  | "dashboard"
  | "clients"
  | "editClients"
  | "proposals"
  | "proposalWizard";

const ALL: readonly Role[] = ["admin", "analyst", "manager", "sales", "operator"];

/** Who may use each feature, and the calls that decide it. */
const ALLOWED: Record<Feature, readonly Role[]> = {
  // CatalogService is open to everyone.
  catalog: ALL,
  // StreamService and CalculationService reads.
  dashboard: ["admin", "analyst", "manager", "sales"],
  // ClientConfigService reads.
  clients: ["admin", "analyst", "manager", "sales"],
  // ClientConfigService Create/Update/Delete.
  editClients: ["admin", "sales"],
  // ProposalService ListProposals, GetProposal, RenderProposalDocument.
  proposals: ["admin", "manager", "sales"],
  // ProposalService CreateProposal (the running total prices through it too).
  proposalWizard: ["admin", "sales"],
};

const NAMES: Record<Feature, string> = {
  catalog: "the KPI catalog",
  dashboard: "live dashboards",
  clients: "client configurations",
  editClients: "changing client configurations",
  proposals: "saved proposals",
  proposalWizard: "the proposal wizard",
};

export function may(role: Role, feature: Feature): boolean {
  return ALLOWED[feature].includes(role);
}

/** The sentence shown when a page the role may not use is opened by its address. */
export function deniedText(role: Role, feature: Feature): string {
  const who = ALLOWED[feature].filter((r) => r !== "admin");
  const ask = who.length > 0 ? ` It is open to ${who.join(", ")} and admin users.` : " Only admins may use it.";
  return `Your role (${role}) may not use ${NAMES[feature]}.${ask}`;
}
