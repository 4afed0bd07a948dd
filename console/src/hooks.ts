import { useCallback, useEffect, useState } from 'react';
import { call } from './api';

/** Loads `path` (again when it changes or on reload()); errors are kept to show. */
export function useApi<T>(path: string | null, refreshMs = 0): { data: T | undefined; error: string | null; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (!path) return;
    let live = true;
    setLoading(true);
    call<T>(path).then(
      (d) => live && (setData(d), setError(null)),
      (e: Error) => live && setError(e.message),
    ).finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!refreshMs) return;
    const id = setInterval(reload, refreshMs);
    return () => clearInterval(id);
  }, [refreshMs, reload]);
  return { data, error, loading, reload };
}
