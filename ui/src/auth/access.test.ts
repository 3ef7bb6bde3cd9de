import { describe, expect, it } from "vitest";
import { deniedText, may } from "./access";

describe("what each role may use", () => {
  it("matches the service role table", () => {
    expect(may("admin", "proposalWizard")).toBe(true);
    expect(may("sales", "proposalWizard")).toBe(true);
    expect(may("sales", "editClients")).toBe(true);
    expect(may("analyst", "proposalWizard")).toBe(false);
    expect(may("analyst", "proposals")).toBe(false);
    expect(may("analyst", "clients")).toBe(true);
    expect(may("analyst", "editClients")).toBe(false);
    expect(may("manager", "proposals")).toBe(true);
    expect(may("manager", "proposalWizard")).toBe(false);
    expect(may("operator", "clients")).toBe(false);
    expect(may("operator", "dashboard")).toBe(false);
    expect(may("operator", "catalog")).toBe(true);
  });

  it("says who may use a denied page", () => {
    expect(deniedText("analyst", "proposalWizard")).toBe(
      "Your role (analyst) may not use the proposal wizard. It is open to sales and admin users.",
    );
  });
});
