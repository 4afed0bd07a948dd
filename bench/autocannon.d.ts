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
    /** Called before each request is sent: returns the request to send (e.g. with a body of its own). */
    setupRequest?: (req: Request) => Request;
  }
  function autocannon(opts: { url: string; connections?: number; duration?: number; method?: string; headers?: Record<string, string>; requests?: Partial<Request>[] }): Promise<Result>;
  export default autocannon;
}
