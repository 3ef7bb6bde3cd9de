import { describe, expect, it } from "vitest";
import { FieldType } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { formatSourceFields, parseSourceFields } from "./sourceFields";

describe("source fields", () => {
  it("reads one 'name: type' per line, a string when the type is left out", () => {
    const fields = parseSourceFields(" id: string\n\ncreated: Timestamp\nnote\namount: money");
    expect(fields.map((f) => [f.name, f.type])).toEqual([
      ["id", FieldType.STRING],
      ["created", FieldType.TIMESTAMP],
      ["note", FieldType.STRING],
      ["amount", FieldType.UNSPECIFIED],
    ]);
  });

  it("writes back what it reads", () => {
    const text = "id: string\ntotal: decimal\nshipped: date";
    expect(formatSourceFields(parseSourceFields(text))).toBe(text);
  });
});
