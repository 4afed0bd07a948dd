// autocannon ships no types; the benchmarks use only this much of it.
declare module 'autocannon' {
  export interface Result {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    errors: number;
    non2xx: number;
    statusCodeStats?: Record<string, { count: number }>;
  }
  export interface Request {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string;
  }
  function autocannon(opts: { url: string; connections?: number; duration?: number; headers?: Record<string, string>; requests?: Request[] }): Promise<Result>;
  export default autocannon;
}
