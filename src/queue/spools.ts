/**
 * The spool subtrees of a configuration, built in one place from the
 * options: the operator tools (status, show, requeue), the scheduled tasks,
 * the daemon's preparation of its spools, its workers and its metrics all
 * take their list from here.
 */

/** A spool subtree: its short name (reg, dump, …) and root directory. */
export interface SpoolRef<N extends string = string> {
  readonly name: N;
  readonly root: string;
}

/** The subtrees an importer knows, in the order they are shown. */
export type SpoolName = 'reg' | 'dump' | 'sandbox' | 'jobman';

/** The options that locate the spools (ImporterOptions fields). */
export interface SpoolDirsOptions {
  readonly regMdir: string;
  readonly dumpMdir: string;
  readonly sandboxMdir: string;
  /** jobman requests taken from a maildir (instead of jobman's own folders). */
  readonly jobmanMdir?: string | undefined;
}

/** reg, dump, sandbox, and jobman when a jobman maildir is configured. */
export function spoolsOf(o: SpoolDirsOptions): SpoolRef<SpoolName>[] {
  const list: SpoolRef<SpoolName>[] = [
    { name: 'reg', root: o.regMdir },
    { name: 'dump', root: o.dumpMdir },
    { name: 'sandbox', root: o.sandboxMdir },
  ];
  if (o.jobmanMdir !== undefined) list.push({ name: 'jobman', root: o.jobmanMdir });
  return list;
}

/** The LB subtrees (reg, dump, sandbox): what the scheduled tasks act on. */
export function lbSpoolsOf(o: SpoolDirsOptions): SpoolRef<SpoolName>[] {
  return spoolsOf(o).filter((s) => s.name !== 'jobman');
}

/** The subtrees a daemon running `workers` consumes (each once, in spoolsOf order). */
export function consumedSpools(o: SpoolDirsOptions & { readonly workers: readonly string[] }): SpoolRef<SpoolName>[] {
  return spoolsOf(o).filter((s) => o.workers.includes(s.name));
}
