/**
 * RFC 2228 protection of the control channel through the GSI security
 * context (a TLS session): a command becomes `ENC <base64 of the TLS
 * application-data records holding "COMMAND\r\n">`, and each token of a
 * `63x` reply line is fed to the same session, which yields the reply text.
 */
import type { Protection } from './control.js';
import type { MemoryTls } from './memory-tls.js';

export class GsiProtection implements Protection {
  constructor(private readonly tls: MemoryTls) {}

  async wrap(command: string): Promise<string> {
    this.tls.write(`${command}\r\n`);
    await this.tls.settle(() => this.tls.pendingOutput > 0);
    this.check();
    const out = this.tls.takeOutput();
    if (out.length === 0) throw new Error('the security context produced no token for the command');
    return `ENC ${out.toString('base64')}`;
  }

  async unwrap(token: string): Promise<Buffer> {
    const data = Buffer.from(token, 'base64');
    if (data.length === 0) return Buffer.alloc(0);
    await this.tls.settle(this.tls.feed(data));
    this.check();
    // A record the session answers (a key update, an alert) would go unsent: none is expected here.
    this.tls.takeOutput();
    return this.tls.takeApp();
  }

  private check(): void {
    const e = this.tls.error;
    if (e !== undefined) throw e;
  }

  destroy(): void {
    this.tls.destroy();
  }
}
