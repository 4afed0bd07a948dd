/** S3-compatible export storage: not yet implemented (see src/bulk/storage.ts). */
import type { ExportStorage } from './storage.js';

export class S3Storage {
  static fromUrl(url: string): ExportStorage {
    throw new Error(`EXPORT_STORAGE ${url.split('?')[0]}: S3 storage is not available in this build`);
  }
}
