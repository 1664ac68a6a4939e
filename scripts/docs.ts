/** `npm run docs`: write the option tables (src/config/option-docs.ts) into README.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/paths.js';
import { withCurrentTables } from '../src/config/option-docs.js';

const readme = join(PACKAGE_ROOT, 'README.md');
const before = readFileSync(readme, 'utf8');
const after = withCurrentTables(before);
if (after === before) {
  process.stdout.write('README.md: the option tables are current\n');
} else {
  writeFileSync(readme, after);
  process.stdout.write('README.md: option tables written\n');
}
