/**
 * S3-compatible export storage (`EXPORT_STORAGE=s3://bucket/prefix`): files are streamed up
 * as multipart uploads, so a part file never sits whole in memory or on local disk, and an
 * object appears only when its upload completes (an aborted one leaves nothing). Objects are
 * tagged with their media type (`application/fhir+ndjson` for Bulk files; CSV, Parquet or row
 * NDJSON for view exports), because object stores otherwise answer `binary/octet-stream` and
 * bulk clients reject it (P13). Credentials and region come from
 * the usual AWS variables; `EXPORT_S3_ENDPOINT` points at another S3-compatible service
 * (MinIO, Ceph, a local test server), with path-style addressing.
 */
import { PassThrough, type Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertSafeKey, exportFileMediaType, type ExportStorage, type FileSink, type StoredFile } from './storage.js';


function notFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3Storage implements ExportStorage {
  readonly kind = 's3';

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  static fromUrl(url: string, env: NodeJS.ProcessEnv = process.env): S3Storage {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!m) throw new Error(`EXPORT_STORAGE must look like s3://bucket/prefix, got ${url}`);
    const endpoint = env.EXPORT_S3_ENDPOINT || undefined;
    const client = new S3Client({
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    });
    return new S3Storage(client, m[1], m[2].replace(/\/+$/, ''));
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  create(key: string): FileSink {
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: body, ContentType: exportFileMediaType(key) },
      // 8 MB parts, two in flight: bounded memory per open file.
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
    });
    let failure: unknown;
    const done = upload.done();
    // Once the upload has failed nobody reads the body again: close it so a write waiting
    // for 'drain' wakes up and sees the failure instead of waiting forever.
    const settled = done.then(
      () => undefined,
      (err) => {
        failure ??= err;
        body.destroy();
      },
    );
    return {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (failure !== undefined || body.destroyed) return reject(failure ?? new Error('export upload closed'));
          if (body.write(chunk)) return resolve();
          // Backpressure: lib-storage reads on only as parts are sent.
          const wake = () => {
            body.off('drain', wake).off('close', wake);
            if (failure !== undefined || body.destroyed) reject(failure ?? new Error('export upload closed'));
            else resolve();
          };
          body.on('drain', wake).on('close', wake);
        }),
      end: async () => {
        body.end();
        await done;
      },
      abort: async () => {
        // Not upload.abort(): that rejects done() at once while the upload goes on in the
        // background and sends AbortMultipartUpload later. Ending the body early fails the
        // upload from inside, so lib-storage aborts the multipart upload itself, and we wait
        // for that: when abort() returns, nothing is in flight and no object was completed.
        failure ??= new Error('export upload aborted');
        body.destroy();
        await settled;
      },
    };
  }

  async open(key: string, range?: { start: number; end: number }): Promise<StoredFile | undefined> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      // Content-Range "bytes a-b/size" carries the whole size when a range was asked.
      const total = res.ContentRange ? Number(res.ContentRange.split('/')[1]) : Number(res.ContentLength ?? 0);
      return { stream: res.Body as Readable, size: total };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return Number(res.ContentLength ?? 0);
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async removePrefix(prefix: string): Promise<void> {
    const folder = `${this.objectKey(prefix)}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: folder, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length) {
        const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        // A 200 can still list keys that were not deleted; throwing keeps the job row, so the
        // next sweep retries instead of forgetting the objects.
        if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} export objects, e.g. ${res.Errors[0].Key}: ${res.Errors[0].Code}`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  presignedUrl(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ResponseContentType: exportFileMediaType(key) }), { expiresIn: ttlSeconds });
  }
}
