/**
 * What an FTP server's refusal means, read from the reply text and the
 * command it answered as well as its code: servers pick different codes
 * for the same thing ("permission denied" is 550 on ProFTPD, 553 on vsftpd
 * and Pure-FTPd; a connection limit is 421 on vsftpd, 530 on ProFTPD), so
 * the code alone cannot decide. Pure; the outcome of each meaning is
 * decided in ./classify.ts (see the table there).
 */
import { JpError } from './errors.js';

export type FtpMeaning =
  /** The server's session process failed (vsftpd `500 OOPS: …`, also written in clear text on a TLS connection). */
  | 'session-failure'
  /** Too many connections (from us, or in all): fewer connections, not "server down". */
  | 'too-many-connections'
  /** Service not available (421 other than a connection limit): closing the control connection. */
  | 'unavailable'
  /** Command not implemented (500/502/504 that are not an OOPS). */
  | 'not-implemented'
  /** Quota, disk full, file too large. */
  | 'no-space'
  /** The file exists and may not be replaced (ProFTPD `AllowOverwrite off`). */
  | 'exists'
  /** The server's permissions forbid it. */
  | 'permission'
  /** No such file or directory (usually: the upload's directory does not exist yet). */
  | 'no-such-path'
  /** The file cannot be created, without saying why (vsftpd `553 Could not create file.`: no directory or no permission). */
  | 'cannot-create'
  /** Login refused (530). */
  | 'login-refused'
  /** The transfer failed or was aborted (425/426/450/451). */
  | 'transfer-failed'
  /** The name itself is refused (553 "File name not allowed", 501 bad argument). */
  | 'bad-name'
  | 'other';

/** What the reply answered: an FTP command, or a stage of the session. */
export type FtpCommand = 'greeting' | 'AUTH TLS' | 'login' | 'setup' | 'STOR' | 'APPE' | 'MKD' | 'CWD' | 'SIZE' | 'session';

/** Texts first (they say what happened), then codes; the first match wins. */
const BY_TEXT: ReadonlyArray<readonly [FtpMeaning, RegExp]> = [
  ['session-failure', /^(?:\d{3}[ -])?\s*OOPS\b/i],
  ['too-many-connections', /too many (?:connections|connected users|users|clients|sessions|logins)|maximum number of (?:clients|connections|users|logins)|more than \d+ (?:connections|clients|users)|connection limit|max(?:imum)? (?:clients|connections) (?:reached|exceeded)/i],
  ['no-space', /quota|disk full|no space|insufficient storage|storage (?:allocation )?exceeded|file too large|out of space/i],
  // Before `permission`: ProFTPD says "Overwrite permission denied".
  ['exists', /overwrite|file exists|already exists/i],
  ['permission', /permission denied|access denied|access is denied|not permitted|forbidden|\bEACCES\b|\bEPERM\b|insufficient (?:permission|privilege)|not allowed to (?:write|upload|create|store|append)/i],
  ['no-such-path', /no such (?:file|directory)|not found|does not exist|doesn't exist|\bENOENT\b|can't find|cannot find|failed to change directory|can't change directory/i],
  ['cannot-create', /could not create|can't create|cannot create|unable to create|could not open|can't open|cannot open|unable to open/i],
];

export function ftpReplyMeaning(code: number | undefined, text: string, command: FtpCommand): FtpMeaning {
  const body = text.trim();
  for (const [meaning, re] of BY_TEXT) if (re.test(body)) return meaning;
  switch (code) {
    case 421:
      return 'unavailable';
    case 500:
    case 502:
    case 504:
      return 'not-implemented';
    case 452:
    case 552:
      return 'no-space';
    case 530:
      return 'login-refused';
    case 425:
    case 426:
    case 450:
    case 451:
      return 'transfer-failed';
    case 501:
    case 553:
      return command === 'greeting' || command === 'login' ? 'other' : 'bad-name';
    default:
      return 'other';
  }
}

const HINTS: Partial<Record<FtpMeaning, string>> = {
  'session-failure': 'the FTP server\'s session failed',
  'too-many-connections': 'the FTP server refuses more connections',
  'no-space': 'no space (quota or disk) on the FTP server',
  exists: 'the file exists there and the FTP server does not replace it',
  permission: 'the FTP server\'s permissions forbid it',
  'no-such-path': 'no such directory on the FTP server',
  'cannot-create': 'the FTP server cannot create the file there: no permission, or no such directory',
  'bad-name': 'the FTP server does not accept the name',
};

/** A refusal (or a failure) an FTP server told us about, with what it meant. */
export class FtpReplyError extends JpError {
  readonly command: FtpCommand;
  /** The reply text (code and message) as the server sent it; empty when it could not be read. */
  readonly reply: string;
  readonly meaning: FtpMeaning;

  constructor(
    what: string, command: FtpCommand,
    reply: { code?: number; text: string; meaning?: FtpMeaning; note?: string }, cause?: unknown,
  ) {
    const meaning = reply.meaning ?? ftpReplyMeaning(reply.code, reply.text, command);
    const hint = HINTS[meaning];
    const said = reply.text.trim() === '' ? '' : `: server replied ${reply.text.trim()}`;
    const note = reply.note === undefined ? '' : `: ${reply.note}`;
    super('JP_FTP', `${what}: ${command}${said}${note}${hint === undefined ? '' : ` (${hint})`}`, {
      ...(reply.code !== undefined ? { ftpCode: reply.code } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
    this.name = 'FtpReplyError';
    this.command = command;
    this.reply = reply.text.trim();
    this.meaning = meaning;
  }
}
