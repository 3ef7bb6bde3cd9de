// An INVALID_ARGUMENT names the fields at fault (google.rpc.BadRequest); forms show them next to
// the general message.
import { ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@sdk/google/rpc/error_details_pb.js";
import { errorText } from "./format";

export function fieldViolations(error: unknown): { field: string; description: string }[] {
  if (!(error instanceof ConnectError)) return [];
  return error.findDetails(BadRequestSchema).flatMap((detail) =>
    detail.fieldViolations.map((v) => ({ field: v.field, description: v.description })),
  );
}

/** What the service said about one field (its path in the request, e.g. "data_source.source_system"),
 * matched on the field's last segment so a form can ask by its own names. */
export function violationFor(error: unknown, field: string): string | undefined {
  const wanted = field.toLowerCase();
  const found = fieldViolations(error).find((v) => {
    const path = v.field.toLowerCase();
    return path === wanted || path.endsWith(`.${wanted}`) || path.split("[")[0].endsWith(`.${wanted}`);
  });
  return found?.description;
}

/** A field's own message, under the input it belongs to. */
export function FieldMessage({ error, field }: { error: unknown; field: string }) {
  const message = violationFor(error, field);
  if (!message) return null;
  return (
    <small className="error-text" data-testid={`field-error-${field}`}>
      {message}
    </small>
  );
}

export function FormError({ error }: { error: unknown }) {
  if (error === undefined) return null;
  const violations = fieldViolations(error);
  return (
    <div className="error" role="alert">
      <div>
        {errorText(error)}
        {violations.length > 0 && (
          <ul className="violations">
            {violations.map((v) => (
              <li key={`${v.field}:${v.description}`}>
                <code>{v.field}</code>: {v.description}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
