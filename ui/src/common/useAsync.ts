// Loading / error / value for one asynchronous read, re-run when its inputs change; a stale
// answer (inputs changed meanwhile) is dropped.
import { useEffect, useState } from "react";

export interface AsyncState<T> {
  loading: boolean;
  error: unknown;
  value: T | undefined;
  reload: () => void;
}

export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ loading: boolean; error: unknown; value: T | undefined }>({
    loading: true,
    error: undefined,
    value: undefined,
  });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ loading: true, error: undefined, value: previous.value }));
    load(controller.signal).then(
      (value) => !controller.signal.aborted && setState({ loading: false, error: undefined, value }),
      (error: unknown) =>
        !controller.signal.aborted && setState({ loading: false, error, value: undefined }),
    );
    return () => controller.abort();
    // `load` is a new closure on every render; the caller's `deps` say when it really changes.
  }, [...deps, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}
