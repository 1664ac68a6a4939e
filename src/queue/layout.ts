/** Directory layout of one spool subtree (the LB maildir): its state directories. */
import { join } from 'node:path';

export const STATES = ['new', 'cur', 'post', 'undeliverable'] as const;
export type SpoolState = (typeof STATES)[number];

export const SPOOL_DIRS = ['tmp', 'new', 'cur', 'post', 'undeliverable'] as const;
export type SpoolDir = (typeof SPOOL_DIRS)[number];

/** The C importer's claimed-in-progress directory, adopted at start. */
export const LEGACY_WORK_DIR = 'work';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export function dirOf(root: string, dir: SpoolDir | typeof LEGACY_WORK_DIR): string {
  return join(root, dir);
}

export function pathOf(root: string, dir: SpoolDir | typeof LEGACY_WORK_DIR, name: string): string {
  return join(root, dir, name);
}
