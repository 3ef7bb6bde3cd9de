// A data source's fields as the editor types them: one "name: type" per line.
import { create } from "@bufbuild/protobuf";
import { FieldType } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { SourceFieldSchema, type SourceField } from "@sdk/analytics/config/v1/config_pb.js";

const TYPES: Record<string, FieldType> = {
  string: FieldType.STRING,
  integer: FieldType.INTEGER,
  decimal: FieldType.DECIMAL,
  boolean: FieldType.BOOLEAN,
  timestamp: FieldType.TIMESTAMP,
  date: FieldType.DATE,
};

const NAMES = new Map(Object.entries(TYPES).map(([name, type]) => [type, name]));

/** "name: type" lines into source fields; a missing type is a string, an unknown one unspecified. */
export function parseSourceFields(text: string): SourceField[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [name, type = "string"] = line.split(":").map((part) => part.trim());
      return create(SourceFieldSchema, { name, type: TYPES[type.toLowerCase()] ?? FieldType.UNSPECIFIED });
    });
}

/** The inverse of parseSourceFields, for editing a stored data source. */
export function formatSourceFields(fields: readonly SourceField[]): string {
  return fields.map((f) => `${f.name}: ${NAMES.get(f.type) ?? "string"}`).join("\n");
}
