/**
 * A real peer (an FTP or GridFTP server from Debian) that is not installed:
 * on a user's machine the test is skipped with the reason printed; in CI
 * (`CI=true`, where `.ci/run` installs every peer) it fails instead, so a
 * broken install step can never pass as a green run that tested nothing.
 */
export function peerMissing(t: { skip: (msg?: string) => void }, reason: string): void {
  if (process.env['CI'] === 'true') throw new Error(`${reason} — .ci/run installs it in CI, so its absence is a failure here`);
  t.skip(reason);
}
