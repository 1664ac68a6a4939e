/** ftp:// and ftps:// destinations: the basic-ftp pool (./ftp-pool.ts) and uploader (./ftp-upload.ts) as a transport. */
import type { FtpPool } from './ftp-pool.js';
import { uploadFile } from './ftp-upload.js';
import { destinationSize } from './remote-size.js';
import type { TransferOptions, TransferResult, UploadSource, UploadTransport } from './transport.js';

export class FtpTransport implements UploadTransport {
  constructor(readonly pool: FtpPool) {}

  upload(destination: string, src: UploadSource, opts?: TransferOptions): Promise<TransferResult> {
    return uploadFile(this.pool, destination, src, opts);
  }

  size(destination: string, signal?: AbortSignal): Promise<number | undefined> {
    return destinationSize(this.pool, destination, signal);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
