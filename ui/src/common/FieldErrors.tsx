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
