/**
 * The layers of src/ point one way: a folder imports only from folders of a
 * lower layer (or from itself). core/ depends on nothing in src/; the
 * protocol and storage libraries sit on it; the workers' parts above them;
 * the daemon above those; the command lines and the package entry on top.
 * Read from each file's import declarations (TypeScript's own pre-parser:
 * static imports, `export … from`, dynamic `import()` of a literal).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { PACKAGE_ROOT } from '../../src/config/paths.js';

/** Lowest first. A folder may import from any folder of a lower layer. */
const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['queue', 'messages', 'primary'], // queue: the on-disk queue protocol (life cycle, moves, listing, retry state)
  ['maildir'], // the LB maildir as a queue, and storing into it
  ['config', 'exporter', 'gridftp', 'metrics', 'ops', 'primary-dev', 'registration', 'upload-api'],
  ['jobman', 'schedule', 'upload'],
  ['daemon'],
  ['cli', 'index.ts'],
];

const SRC = join(PACKAGE_ROOT, 'src');

function layerOf(unit: string): number {
  const i = LAYERS.findIndex((l) => l.includes(unit));
  assert.ok(i >= 0, `src/${unit} is in no layer: add it to LAYERS in test/core/layers.test.ts`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The first path segment below src/: a folder, or `index.ts`. */
const unitOf = (file: string): string => relative(SRC, file).split(sep)[0] as string;

test('every import in src/ goes to the same folder or a lower layer', () => {
  const wrong: string[] = [];
  let imports = 0;
  for (const file of sources(SRC)) {
    const from = unitOf(file);
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), ref.fileName);
      if (!target.startsWith(SRC + sep)) continue;
      imports++;
      const to = unitOf(target);
      if (to === from) continue;
      if (layerOf(to) >= layerOf(from)) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from}: layer ${layerOf(from)}, ${to}: layer ${layerOf(to)})`);
    }
  }
  assert.ok(imports > 300, `read ${imports} imports`);
  assert.deepEqual(wrong, []);
});

test('the check finds a wrong import (core importing maildir)', () => {
  const info = ts.preProcessFile("import type { X } from '../maildir/spool.js';\nexport { y } from './y.js';\nconst m = await import('../daemon/run.js');", true, true);
  const units = info.importedFiles.map((f) => unitOf(resolve(join(SRC, 'core'), f.fileName)));
  assert.deepEqual(units, ['maildir', 'core', 'daemon']);
  assert.ok(layerOf('maildir') > layerOf('core') && layerOf('daemon') > layerOf('core'));
});
