import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { errorText, formatValue } from "./format";
import { formatMoney, formatMoneyRange } from "./money";

describe("display helpers", () => {
  it("rounds by magnitude and adds the unit", () => {
    expect(formatValue(1234.567, "USD")).toBe("1,235 USD");
    expect(formatValue(12.345, "%")).toBe("12.35%");
    expect(formatValue(undefined)).toBe("—");
  });

  it("shows cents as currency and collapses equal ranges", () => {
    expect(formatMoney({ currencyCode: "USD", cents: 123456n } as never)).toBe("$1,234.56");
    const same = { currencyCode: "USD", cents: 500n } as never;
    expect(formatMoneyRange({ min: same, max: same } as never)).toBe("$5.00");
  });

  it("words service errors for people", () => {
    expect(errorText(new ConnectError("client 'x' was changed", Code.Aborted))).toBe("Aborted: client 'x' was changed");
    expect(errorText(new ConnectError("unknown KPI", Code.NotFound))).toBe("Not found: unknown KPI");
  });
});
