/** Where the package lives, for defaults that work in a checkout. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (this file is dist/src/config/paths.js). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const DEFAULT_SPOOL_ROOT = join(PACKAGE_ROOT, 'maildir');
