/**
 * The real JP interface's schemas (../shared/fixtures/jp-wsdl: jpe.xsd for
 * elements, jpt.xsd for types) and a real XML Schema validator (xmllint,
 * Debian's libxml2-utils, installed by .ci/run): validate the element inside
 * each SOAP Body (and a fault's genericFault detail) as a document of its
 * own, with the envelope's namespace declarations. The fixtures are read
 * where they are, never copied; without them (a user's clone) the caller
 * skips with the reason; without xmllint, peers.ts decides (fails in CI).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding jpe.xsd and jpt.xsd, or undefined. */
export function jpSchemaDir(): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    resolve(process.cwd(), '..', 'shared', 'fixtures', 'jp-wsdl'),
    resolve(here, '..', '..', '..', '..', 'shared', 'fixtures', 'jp-wsdl'),
  ];
  return candidates.find((p) => existsSync(join(p, 'jpe.xsd')) && existsSync(join(p, 'jpt.xsd')));
}

export function findXmllint(): string | undefined {
  return ['/usr/bin/xmllint', '/usr/local/bin/xmllint'].find((p) => existsSync(p));
}

/** One document to validate: the Body's element (or a fault detail's genericFault) with the envelope's namespaces. */
export function bodyElement(envelope: string, which: 'body' | 'fault-detail' = 'body'): string {
  const root = /<([A-Za-z][\w.-]*):Envelope\b([^>]*)>/.exec(envelope);
  if (root === null) throw new Error(`no SOAP Envelope in ${envelope.slice(0, 200)}`);
  const env = root[1] as string;
  const nsDecls = (root[2] as string).match(/\sxmlns(?::[\w.-]+)?="[^"]*"/g) ?? [];
  const bodyOpen = new RegExp(`<${env}:Body\\b[^>]*>`).exec(envelope);
  const bodyClose = envelope.lastIndexOf(`</${env}:Body>`);
  if (bodyOpen === null || bodyClose < 0) throw new Error('no SOAP Body');
  let inner = envelope.slice(bodyOpen.index + bodyOpen[0].length, bodyClose).trim();
  if (which === 'fault-detail') {
    const d = /<detail\b[^>]*>([\s\S]*)<\/detail>/.exec(inner);
    if (d === null) throw new Error('no fault detail');
    inner = (d[1] as string).trim();
  }
  // Put the envelope's namespace declarations on the element itself.
  const open = /^<([A-Za-z][\w.:-]*)(\s[^>]*?)?(\/?)>/.exec(inner);
  if (open === null) throw new Error(`no element in the Body: ${inner.slice(0, 120)}`);
  const own = open[2] ?? '';
  const extra = nsDecls.filter((d) => !own.includes(d.trim().split('=')[0] as string)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${open[1]}${extra}${own}${open[3]}>${inner.slice(open[0].length)}`;
}

export interface Verdict {
  readonly name: string;
  readonly ok: boolean;
  readonly output: string;
}

/** Validate named documents against jpe.xsd in one xmllint run; one verdict each. */
export function validateAll(docs: ReadonlyArray<readonly [string, string]>, schemaDir: string, xmllint: string): Verdict[] {
  const dir = mkdtempSync(join(tmpdir(), 'jp-xsd-'));
  try {
    const files = docs.map(([name, xml], i) => {
      const f = join(dir, `${String(i).padStart(3, '0')}.xml`);
      writeFileSync(f, xml);
      return { name, f };
    });
    const r = spawnSync(xmllint, ['--noout', '--schema', join(schemaDir, 'jpe.xsd'), ...files.map((x) => x.f)], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    return files.map(({ name, f }) => {
      const lines = out.split('\n').filter((l) => l.startsWith(f));
      return { name, ok: lines.some((l) => l === `${f} validates`), output: lines.join('\n').replaceAll(f, name) };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
