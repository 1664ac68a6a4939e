/** `npm run docs`: write the option tables (src/config/option-docs.ts) into docs/configuration.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/paths.js';
import { withCurrentTables } from '../src/config/option-docs.js';

const PAGE = 'docs/configuration.md';
const page = join(PACKAGE_ROOT, PAGE);
const before = readFileSync(page, 'utf8');
const after = withCurrentTables(before);
if (after === before) {
  process.stdout.write(`${PAGE}: the option tables are current\n`);
} else {
  writeFileSync(page, after);
  process.stdout.write(`${PAGE}: option tables written\n`);
}
