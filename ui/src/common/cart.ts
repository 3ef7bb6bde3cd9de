// The KPI cart: KPIs picked in the catalog for a dashboard (and later a proposal). Stored in
// localStorage and shared between tabs of the app through a storage event.
import { useEffect, useState } from "react";

const KEY = "ae.cart";
const EVENT = "ae-cart-changed";

export function readCart(): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((c): c is string => typeof c === "string") : [];
  } catch {
    return [];
  }
}

export function writeCart(codes: string[]): void {
  localStorage.setItem(KEY, JSON.stringify([...new Set(codes)]));
  window.dispatchEvent(new Event(EVENT));
}

export function useCart(): [string[], (codes: string[]) => void] {
  const [cart, setCart] = useState(readCart);
  useEffect(() => {
    const refresh = () => setCart(readCart());
    window.addEventListener(EVENT, refresh);
    window.addEventListener("storage", refresh);
    return () => {
      window.removeEventListener(EVENT, refresh);
      window.removeEventListener("storage", refresh);
    };
  }, []);
  return [cart, writeCart];
}
