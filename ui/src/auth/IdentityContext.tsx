// The signed-in identity, available to every page.
import { createContext, useContext } from "react";
import type { Identity } from "./session";

export const IdentityContext = createContext<Identity | null>(null);

export function useIdentity(): Identity {
  const identity = useContext(IdentityContext);
  if (!identity) throw new Error("useIdentity outside a signed-in app");
  return identity;
}
