// s3rver ships no types; the S3 test uses only this much of it.
declare module 's3rver' {
  export default class S3rver {
    constructor(opts: { port: number; address: string; directory: string; silent?: boolean; configureBuckets?: { name: string; configs: unknown[] }[] });
    run(): Promise<unknown>;
    close(): Promise<void>;
  }
}
