// Money is integer cents plus a currency on the wire; shown with the currency's own symbol.
import type { Money, MoneyRange } from "@sdk/analytics/type/v1/types_pb.js";

export function formatMoney(money: Money | undefined): string {
  if (!money) return "—";
  const amount = Number(money.cents) / 100;
  try {
    return amount.toLocaleString("en-US", { style: "currency", currency: money.currencyCode || "USD" });
  } catch {
    return `${amount.toFixed(2)} ${money.currencyCode}`;
  }
}

export function formatMoneyRange(range: MoneyRange | undefined): string {
  if (!range) return "—";
  const low = formatMoney(range.min);
  const high = formatMoney(range.max);
  return low === high ? low : `${low} – ${high}`;
}

export function formatHours(hundredths: bigint | number | undefined): string {
  return hundredths === undefined ? "—" : `${(Number(hundredths) / 100).toLocaleString("en-US")} h`;
}
