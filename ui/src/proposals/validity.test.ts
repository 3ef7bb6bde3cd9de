import { describe, expect, it } from "vitest";
import { validityText } from "./validity";

const NOW = new Date("2026-03-01T12:00:00Z");

describe("validity", () => {
  it("counts the days left, and says when it expired", () => {
    expect(validityText(new Date("2026-03-31T12:00:00Z"), NOW)).toBe("(30 days left)");
    expect(validityText(new Date("2026-03-02T11:00:00Z"), NOW)).toBe("(1 day left)");
    expect(validityText(NOW, NOW)).toBe("(expires today)");
    expect(validityText(new Date("2026-02-20T12:00:00Z"), NOW)).toBe("(expired)");
    expect(validityText(undefined, NOW)).toBe("");
  });
});
