// A stale etag: someone else changed the record since this page read it. The service answers
// ABORTED; the page says so in words and offers to read the current version.
import { Code, ConnectError } from "@connectrpc/connect";

export function isConflict(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Aborted;
}

export function ConflictNotice({ what, onReload }: { what: string; onReload: () => void }) {
  return (
    <div className="error" role="alert" data-testid="conflict">
      <div>
        {`Someone else changed ${what} after you opened it, so your changes were not saved. `}
        Reload to see their version, then make your changes again.
      </div>
      <button type="button" onClick={onReload}>
        Reload
      </button>
    </div>
  );
}
