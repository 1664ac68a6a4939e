/**
 * GSI authentication of a GridFTP control connection (RFC 2228 with GSI's
 * GSSAPI mechanism, as the Globus server implements it):
 *
 *   AUTH GSSAPI                       → 334
 *   ADAT <b64 ClientHello>            → 335 ADAT=<b64 server flight>
 *   TLS 1.2: ADAT <b64 Certificate … Finished>
 *                                     → 335 ADAT=<b64 ChangeCipherSpec + Finished>
 *            ADAT <b64 wrapped "0">   → 235   (delegation flag: 0 = none)
 *   TLS 1.3: ADAT <b64 Certificate … Finished>
 *                                     → 335 ADAT=<b64 wrapped 0x00>
 *            ADAT <b64 wrapped "0">   → 235
 *
 * The rule behind both (gss_init_sec_context): when the handshake completes
 * and our last flight is still to be sent, it goes alone and the acceptor
 * answers one wrapped null byte to keep the exchange in step; then the
 * flag. When the acceptor's flight completed it, the flag goes at once.
 * We never delegate: the server works with its own credential and the
 * grid-mapfile account the importer's subject maps to.
 */
import { X509Certificate } from 'node:crypto';
import { JpError, describeError } from '../core/errors.js';
import { nodeSubjectToSlash } from '../primary/dn.js';
import type { ControlConnection, WaitOptions } from './control.js';
import { adatToken, replySummary, type FtpReply } from './reply.js';
import { MemoryTls } from './memory-tls.js';
import { GsiProtection } from './protection.js';
import type { GridTls, ServerIdentity } from './identity.js';
import { ServerIdentityError } from './identity.js';

export interface GsiAuthOptions extends WaitOptions {
  readonly tls: GridTls;
  readonly identity: ServerIdentity;
}

export interface GsiSession {
  readonly protection: GsiProtection;
  /** The subject the server authenticated as (slash form). */
  readonly serverSubject: string;
  /** `TLSv1.2` / `TLSv1.3`. */
  readonly protocol: string;
}

/** Rounds of ADAT at most (a full exchange takes three). */
const MAX_ROUNDS = 8;

/** Our verdict on the server's certificate, as a JpError naming the server. */
export function tlsRefusal(e: Error, where: string, channel: string): JpError {
  if (e instanceof ServerIdentityError) return e;
  if (e instanceof JpError) return e;
  const code = (e as { code?: unknown }).code;
  const c = typeof code === 'string' ? code : undefined;
  const verify = c !== undefined && /CERT|ISSUER|SELF_SIGNED|UNABLE_TO|CHAIN|SIGNATURE|CRL|LEAF/.test(c) && !c.startsWith('ERR_SSL');
  const what = verify
    ? `untrusted GridFTP server certificate on the ${channel} of ${where}: ${e.message}${c !== undefined ? ` (${c})` : ''}; its CA must be in the CA directory`
    : `TLS handshake with the GridFTP server ${where} (${channel}) failed: ${describeError(e)}`;
  return new JpError('JP_TLS', what, { cause: e });
}

/** The server refused the security exchange: say what its reply points at. */
function refusal(reply: FtpReply, where: string): JpError {
  const text = reply.text;
  let hint = '';
  if (/signing polic/i.test(text)) hint = ': the server rejects our CA\'s signing policy (its CA directory lacks <hash>.signing_policy for our CA, or the policy does not allow our subject)';
  else if (/verify remote side's credentials|unknown ca|certificate verify failed|unable to get (local )?issuer/i.test(text)) hint = ': the server does not trust our certificate (our CA is not in its CA directory)';
  else if (/expired/i.test(text)) hint = ': a certificate has expired';
  else if (/revoked/i.test(text)) hint = ': the server holds our certificate revoked';
  return new JpError('JP_TLS', `the GridFTP server ${where} refused the GSI handshake${hint}: ${replySummary(reply)}`, { ftpCode: reply.code });
}

export async function gsiAuthenticate(ctl: ControlConnection, opts: GsiAuthOptions): Promise<GsiSession> {
  const where = ctl.where;
  const auth = await ctl.command('AUTH GSSAPI', 'login', opts);
  if (auth.code !== 334) throw ctl.replyError('login', auth, 'the server does not take GSI authentication (AUTH GSSAPI)');
  const check = opts.tls.controlCheck(opts.identity);
  let serverSubject = '';
  const tls = new MemoryTls({
    secureContext: opts.tls.secureContext,
    rejectUnauthorized: true,
    ...(isHostName(opts.identity.host) ? { servername: opts.identity.host } : {}),
    checkServerIdentity: (_host, cert) => {
      const e = check(cert);
      if (e === undefined) serverSubject = nodeSubjectToSlash(new X509Certificate(cert.raw).subject);
      return e;
    },
  });
  try {
    await tls.settle(() => tls.pendingOutput > 0);
    let flagSent = false;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (tls.error !== undefined) throw tlsRefusal(tls.error, where, 'control channel');
      let token = tls.takeOutput();
      if (token.length === 0) {
        if (!tls.established) throw new JpError('JP_TLS', `GSI handshake with the GridFTP server ${where} stalled: the TLS session has nothing to send`);
        if (flagSent) throw new JpError('JP_TLS', `GSI handshake with the GridFTP server ${where}: the server wants more after the delegation flag`);
        tls.takeApp(); // the acceptor's null byte (TLS 1.3)
        tls.write('0'); // no delegation
        flagSent = true;
        await tls.settle(() => tls.pendingOutput > 0);
        if (tls.error !== undefined) throw tlsRefusal(tls.error, where, 'control channel');
        token = tls.takeOutput();
      }
      const reply = await ctl.command(`ADAT ${token.toString('base64')}`, 'login', opts);
      if (reply.code !== 335 && reply.code !== 235) throw refusal(reply, where);
      const incoming = adatToken(reply);
      if (incoming !== undefined) {
        await tls.settle(tls.feed(incoming));
      }
      if (tls.error !== undefined) throw tlsRefusal(tls.error, where, 'control channel');
      if (reply.code === 235) {
        if (!tls.established || !flagSent) throw new JpError('JP_TLS', `GSI handshake with the GridFTP server ${where}: 235 before the handshake completed`);
        tls.takeApp();
        tls.takeOutput();
        return { protection: new GsiProtection(tls), serverSubject, protocol: tls.protocol ?? 'unknown' };
      }
    }
    throw new JpError('JP_TLS', `GSI handshake with the GridFTP server ${where} did not complete in ${MAX_ROUNDS} rounds`);
  } catch (e) {
    tls.destroy();
    throw e;
  }
}

function isHostName(host: string): boolean {
  return !/^[\d.]+$/.test(host) && !host.includes(':');
}
