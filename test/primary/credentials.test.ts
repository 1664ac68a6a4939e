import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { JpError } from '../../src/core/errors.js';
import { CredentialWatcher, loadCaCertificates, loadCredentials } from '../../src/primary/credentials.js';
import { CLIENT2_SUBJECT, CLIENT_SUBJECT, devCerts, makeCrl, privateCaDir } from '../helpers/certs.js';

const certs = devCerts();
let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'jp-cred-test-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function credError(includes: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof JpError, String(e));
    assert.equal(e.code, 'JP_CREDENTIALS');
    assert.ok(e.message.includes(includes), `${JSON.stringify(e.message)} lacks ${JSON.stringify(includes)}`);
    assert.ok(!e.message.includes('PRIVATE KEY-----'), 'no key material in messages');
    return true;
  };
}

describe('loadCredentials', () => {
  it('loads the dev client credentials: slash subject, dates, CA directory with hash link and policy files', async () => {
    const c = await loadCredentials({ certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir });
    assert.equal(c.subject, CLIENT_SUBJECT);
    assert.equal(c.issuer, '/C=CZ/O=jp-importer dev/CN=jp-importer dev CA');
    assert.ok(c.notAfter.getTime() > Date.now());
    assert.ok(c.notBefore.getTime() <= Date.now());
    assert.equal(c.validityProblem(Date.now()), undefined);
    assert.match(c.validityProblem(c.notAfter.getTime() + 1000) ?? '', /^expired at /);
    assert.equal(c.ca.length, 1, 'ca.pem and <hash>.0 are the same certificate');
    assert.ok(c.caFiles.some((f) => /[0-9a-f]{8}\.0$/.test(f)));
    assert.ok(!c.caFiles.some((f) => f.endsWith('.signing_policy') || f.endsWith('.namespaces')));
    assert.match(c.key, /PRIVATE KEY/);
  });

  it('never shows the key in JSON, inspection or enumeration', async () => {
    const c = await loadCredentials({ certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir });
    const key = await readFile(certs.clientKey, 'utf8');
    const body = key.split('\n')[1] ?? 'x';
    for (const s of [JSON.stringify(c), inspect(c, { depth: 5, showHidden: false }), String(Object.keys(c))]) {
      assert.ok(!s.includes('PRIVATE KEY') && !s.includes(body), s.slice(0, 200));
    }
  });

  it('accepts certificate and key in one file (proxy style) and a single CA bundle file', async () => {
    const both = join(tmp, 'proxy.pem');
    await writeFile(both, (await readFile(certs.client, 'utf8')) + (await readFile(certs.clientKey, 'utf8')));
    const bundle = join(tmp, 'bundle.pem');
    await writeFile(bundle, (await readFile(certs.ca, 'utf8')) + (await readFile(certs.rogueCa, 'utf8')));
    const c = await loadCredentials({ certFile: both, keyFile: both, caPath: bundle });
    assert.equal(c.subject, CLIENT_SUBJECT);
    assert.equal(c.ca.length, 2);
  });

  it('reads a grid-style directory: skips policies, CRLs, junk and dangling links', async () => {
    const dir = join(tmp, 'grid');
    await mkdir(dir);
    await copyFile(certs.ca, join(dir, 'aaaa0000.0'));
    await copyFile(certs.rogueCa, join(dir, 'bbbb1111.0'));
    await writeFile(join(dir, 'aaaa0000.signing_policy'), "access_id_CA X509 '/C=CZ'\n");
    await writeFile(join(dir, 'aaaa0000.namespaces'), 'TO Issuer "/C=CZ" PERMIT Subject ".*"\n');
    await writeFile(join(dir, 'aaaa0000.r0'), '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    await writeFile(join(dir, 'README'), 'not a certificate\n');
    await writeFile(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nnotbase64!!\n-----END CERTIFICATE-----\n');
    await symlink(join(dir, 'missing.pem'), join(dir, 'dangling.0'));
    const r = await loadCaCertificates(dir);
    assert.equal(r.certs.length, 2);
    assert.deepEqual(r.files.map((f) => f.slice(dir.length + 1)).sort(), ['aaaa0000.0', 'bbbb1111.0']);
    // the CRL file is read as a CRL: unusable, and tied to its CA by the grid name (aaaa0000.r0 ↔ aaaa0000.0)
    assert.deepEqual(r.crlFiles, [join(dir, 'aaaa0000.r0')]);
    assert.equal(r.revocation.count, 1);
    const problems = r.revocation.problems(Date.now());
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /aaaa0000\.r0 of \/C=CZ\/O=jp-importer dev\/CN=jp-importer dev CA is unusable: cannot be parsed/);
  });

  it('reads the CRLs of a CA directory (several blocks in one file) and of a single bundle file', async () => {
    const dir = join(tmp, 'grid-crl');
    await mkdir(dir);
    await copyFile(certs.ca, join(dir, 'aaaa0000.0'));
    await copyFile(certs.rogueCa, join(dir, 'bbbb1111.0'));
    const rogueSigner = { cert: certs.rogueCa, key: certs.rogueCaKey };
    await writeFile(join(dir, 'aaaa0000.r0'), makeCrl({ revoke: [certs.serverRevoked] }) + makeCrl({ signer: rogueSigner }));
    const r = await loadCaCertificates(dir);
    assert.equal(r.revocation.count, 2);
    assert.deepEqual(r.revocation.problems(Date.now()), []);
    const bundle = join(tmp, 'bundle-crl.pem');
    await writeFile(bundle, (await readFile(certs.ca, 'utf8')) + makeCrl({ revoke: [certs.serverRevoked] }));
    const b = await loadCaCertificates(bundle);
    assert.equal(b.certs.length, 1);
    assert.equal(b.revocation.count, 1);
  });

  const cases: [string, () => Promise<{ certFile: string; keyFile: string; caPath: string }>, string][] = [
    ['missing certificate file', async () => ({ certFile: join(tmp, 'nope.pem'), keyFile: certs.clientKey, caPath: certs.caDir }), 'nope.pem'],
    ['missing key file', async () => ({ certFile: certs.client, keyFile: join(tmp, 'nokey.pem'), caPath: certs.caDir }), 'nokey.pem'],
    ['missing CA directory', async () => ({ certFile: certs.client, keyFile: certs.clientKey, caPath: join(tmp, 'noca') }), 'noca'],
    [
      'CA directory without certificates',
      async () => {
        const d = join(tmp, 'emptyca');
        await mkdir(d, { recursive: true });
        await writeFile(join(d, 'x.signing_policy'), 'x');
        return { certFile: certs.client, keyFile: certs.clientKey, caPath: d };
      },
      'no CA certificates found in',
    ],
    [
      'certificate file without PEM',
      async () => {
        const f = join(tmp, 'notpem.pem');
        await writeFile(f, 'hello\n');
        return { certFile: f, keyFile: certs.clientKey, caPath: certs.caDir };
      },
      'holds no PEM CERTIFICATE',
    ],
    [
      'key file without a key',
      async () => ({ certFile: certs.client, keyFile: certs.client, caPath: certs.caDir }),
      'holds no PEM PRIVATE KEY',
    ],
    ['key of another certificate', async () => ({ certFile: certs.client, keyFile: certs.client2Key, caPath: certs.caDir }), 'does not match certificate'],
    [
      'encrypted key',
      async () => {
        const f = join(tmp, 'enc.pem');
        await writeFile(f, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n');
        return { certFile: certs.client, keyFile: f, caPath: certs.caDir };
      },
      'is encrypted',
    ],
    [
      'damaged key',
      async () => {
        const f = join(tmp, 'bad-key.pem');
        await writeFile(f, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
        return { certFile: certs.client, keyFile: f, caPath: certs.caDir };
      },
      'damaged private key',
    ],
  ];
  for (const [name, make, includes] of cases) {
    it(`JP_CREDENTIALS: ${name}`, async () => {
      await assert.rejects(loadCredentials(await make()), credError(includes));
    });
  }
});

describe('CredentialWatcher', () => {
  it('reloads changed files after the check interval and keeps the old set while a change is incomplete', async () => {
    const dir = join(tmp, 'watch');
    await mkdir(dir);
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await copyFile(certs.client, cert);
    await copyFile(certs.clientKey, key);
    let now = 1_000_000;
    const reloads: string[] = [];
    const errors: string[] = [];
    const w = new CredentialWatcher(
      { certFile: cert, keyFile: key, caPath: certs.caDir },
      { checkIntervalMs: 5000, clock: { now: () => now }, onReload: (c) => reloads.push(c.subject), onError: (e) => errors.push(e.message) },
    );
    const first = await w.get();
    assert.equal(first.creds.subject, CLIENT_SUBJECT);

    // New certificate without its key yet: within the interval nothing is looked at.
    await copyFile(certs.client2, cert);
    assert.equal((await w.get()).generation, first.generation);
    now += 5000;
    const mid = await w.get();
    assert.equal(mid.creds.subject, CLIENT_SUBJECT, 'mismatched pair is not used');
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /does not match/);

    await copyFile(certs.client2Key, key);
    now += 5000;
    const after2 = await w.get();
    assert.equal(after2.creds.subject, CLIENT2_SUBJECT);
    assert.equal(after2.generation, first.generation + 1);
    assert.deepEqual(reloads, [CLIENT2_SUBJECT]);

    // Unchanged files: same generation, no reload.
    now += 5000;
    assert.equal((await w.get()).generation, after2.generation);
    assert.equal(reloads.length, 1);
  });

  it('a CRL added, replaced in place (same size and mtime even), or removed makes a new generation', async () => {
    const ca = privateCaDir(tmp, false);
    const reloads: number[] = [];
    const w = new CredentialWatcher(
      { certFile: certs.client, keyFile: certs.clientKey, caPath: ca.dir },
      { checkIntervalMs: 0, onReload: (c) => reloads.push(c.revocation.count) },
    );
    const g0 = (await w.get()).generation;
    assert.equal((await w.get()).generation, g0, 'nothing changed');
    const first = makeCrl({ revoke: [certs.serverRevoked] });
    await writeFile(`${ca.crlFile}.tmp`, first);
    await rename(`${ca.crlFile}.tmp`, ca.crlFile); // fetch-crl: write aside, rename over
    const g1 = await w.get();
    assert.equal(g1.generation, g0 + 1);
    assert.equal(g1.creds.revocation.count, 1);
    assert.deepEqual(g1.creds.revocation.problems(Date.now()), []);

    // rewritten in place with a CRL of the same length, mtime put back: the inode's ctime still tells
    const st = await stat(ca.crlFile);
    let second = makeCrl({ revoke: [certs.server] });
    for (let i = 0; i < 20 && second.length !== first.length; i++) second = makeCrl({ revoke: [certs.server] });
    await writeFile(ca.crlFile, second);
    await utimes(ca.crlFile, st.atime, st.mtime);
    const g2 = await w.get();
    assert.equal(g2.generation, g1.generation + 1, 'replaced in place');

    await rm(ca.crlFile);
    const g3 = await w.get();
    assert.equal(g3.generation, g2.generation + 1, 'removed');
    assert.equal(g3.creds.revocation.count, 0);
    assert.deepEqual(reloads, [1, 1, 0]);
  });

  it("a CRL's nextUpdate (or thisUpdate) passing makes a new generation without any file change", async () => {
    const ca = privateCaDir(tmp, false);
    const t0 = Date.now();
    await writeFile(ca.crlFile, makeCrl({ lastUpdate: new Date(t0 - 3_600_000), nextUpdate: new Date(t0 + 3_600_000) }));
    let now = t0;
    const w = new CredentialWatcher({ certFile: certs.client, keyFile: certs.clientKey, caPath: ca.dir }, { checkIntervalMs: 0, clock: { now: () => now } });
    const g0 = await w.get();
    assert.deepEqual(g0.creds.revocation.problems(now), []);
    now = t0 + 1_800_000;
    assert.equal((await w.get()).generation, g0.generation, 'nothing passed');
    now = t0 + 3_600_000 + 2000;
    const g1 = await w.get();
    assert.equal(g1.generation, g0.generation + 1, 'nextUpdate passed');
    assert.match(g1.creds.revocation.problems(now)[0] ?? '', /expired at/);
    assert.equal((await w.get()).generation, g1.generation, 'stable afterwards');
  });

  it('throws JP_CREDENTIALS when nothing was ever loadable', async () => {
    const w = new CredentialWatcher({ certFile: join(tmp, 'absent.pem'), keyFile: certs.clientKey, caPath: certs.caDir });
    await assert.rejects(w.get(), credError('absent.pem'));
  });
});
