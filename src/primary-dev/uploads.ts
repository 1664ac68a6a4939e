/**
 * The contract between the reference primary service and its upload side
 * (the FTP/FTPS endpoint in ./ftp/, written separately), plus the fallback
 * verifier used when no FTP endpoint runs in-process.
 *
 * Paths: the FTP root is `<data-dir>/files`; a destination URL
 * `ftp(s)://host:port/<job unique>/<file name>` names the relative path
 * `<job unique>/<file name>` under it.
 */
import { statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

/** Tells CommitUpload whether a destination's file arrived completely. */
export interface UploadVerifier {
  /** `relPath` is relative to the FTP root (`<data-dir>/files`). */
  completed(relPath: string): { bytes: number } | undefined;
}

/** Failure injection on the FTP side (forwarded from the admin hooks). */
export interface FtpHooks {
  /** Drop the data connection of the next upload after this many bytes (0 = off). */
  dropAfterBytes?: number;
  /** With dropAfterBytes: how many uploads in a row (default 1). */
  dropCount?: number;
  /** Refuse logins while true. */
  refuseLogins?: boolean;
}

export interface FtpEndpointOptions {
  /** `host:port`, port 0 = any free port. */
  listen: string;
  /** The service's data directory; the FTP root is `<dataDir>/files`. */
  dataDir: string;
  /** PEM texts (not paths): server certificate, key, trusted CA certificates. */
  tls?: { cert: string; key: string; ca: string[] };
  /** Implicit TLS (ftps://) instead of plain FTP with optional AUTH TLS. */
  implicitTls?: boolean;
  /** With tls: refuse clients without a certificate signed by tls.ca. */
  requireClientCert?: boolean;
}

export interface FtpEndpoint {
  port: number;
  verifier: UploadVerifier;
  setHooks(h: FtpHooks): void;
  close(): Promise<void>;
}

export type StartFtpEndpoint = (opts: FtpEndpointOptions) => Promise<FtpEndpoint>;

/** Is `relPath` a plain relative path that stays inside its root? */
export function isSafeRelPath(relPath: string): boolean {
  if (relPath === '' || relPath.startsWith('/') || relPath.includes('\\') || relPath.includes('\0')) return false;
  return relPath.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/**
 * Without an FTP endpoint in-process: a file counts as uploaded when it
 * exists under the root and is not empty (tests place files there directly;
 * an external FTP server can serve the same directory).
 */
export function fileVerifier(root: string): UploadVerifier {
  const base = resolve(root);
  return {
    completed(relPath: string) {
      if (!isSafeRelPath(relPath)) return undefined;
      const full = join(base, relPath);
      if (!full.startsWith(base + sep)) return undefined;
      try {
        const st = statSync(full);
        return st.isFile() && st.size > 0 ? { bytes: st.size } : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
