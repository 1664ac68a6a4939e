/** Checks on the exporter's store directory, done before reading any input. */
import { accessSync, constants, statSync } from 'node:fs';
import { describeError, JpError, systemCode } from '../core/errors.js';

/** Throws JP_CONFIG naming the directory when it is missing, not a directory or not writable. */
export function checkStoreDir(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const why = systemCode(e) === 'ENOENT' ? 'does not exist' : `cannot be examined: ${describeError(e)}`;
    throw new JpError('JP_CONFIG', `store directory ${dir} ${why}`, { cause: e });
  }
  if (!isDir) throw new JpError('JP_CONFIG', `store directory ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new JpError('JP_CONFIG', `store directory ${dir} is not writable: ${describeError(e)}`, { cause: e });
  }
}
