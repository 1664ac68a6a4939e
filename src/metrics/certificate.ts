/**
 * Expiry of the importer's client certificate, read from the certificate
 * file alone (the master never needs the private key for this).
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { describeError, JpError } from '../core/errors.js';
import { pemCertificates } from '../primary/credentials.js';

const MAX_CERT_FILE = 1 << 20;

/** notAfter of the first certificate in a PEM file, in seconds since the epoch. Throws JP_CREDENTIALS naming the file. */
export async function certificateExpirySeconds(certFile: string): Promise<number> {
  let text: string;
  try {
    const st = await stat(certFile);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_CERT_FILE) throw new Error(`larger than ${MAX_CERT_FILE} bytes`);
    text = await readFile(certFile, 'utf8');
  } catch (e) {
    throw new JpError('JP_CREDENTIALS', `cannot read certificate file ${certFile}: ${describeError(e)}`, { cause: e });
  }
  const first = pemCertificates(text)[0];
  if (first === undefined) throw new JpError('JP_CREDENTIALS', `certificate file ${certFile} holds no PEM CERTIFICATE block`);
  let notAfter: number;
  try {
    notAfter = Date.parse(new X509Certificate(first).validTo);
  } catch (e) {
    throw new JpError('JP_CREDENTIALS', `certificate file ${certFile} holds a damaged certificate: ${describeError(e)}`, { cause: e });
  }
  if (!Number.isFinite(notAfter)) throw new JpError('JP_CREDENTIALS', `certificate file ${certFile}: unreadable expiry date`);
  return notAfter / 1000;
}
