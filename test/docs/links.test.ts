/**
 * The README and docs/*.md link to each other and to files of the
 * repository: every relative link must name a file or directory that
 * exists, and every `#anchor` (within a page, or to another page's heading)
 * must name a heading of that page, with the anchors GitHub makes. Links
 * inside code (fenced blocks, `inline code`) and to other sites are not
 * checked. Every page of docs/ is listed in docs/README.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config/paths.js';

/** The text outside fenced code blocks, line by line (code lines blanked, so line numbers stay). */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (m !== null) {
      const mark = m[1] as string;
      if (fence === undefined) fence = mark[0] as string;
      else if (mark[0] === fence) fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** A line without its inline code spans. */
const withoutCode = (line: string): string => line.replace(/(`+)[^`]*?\1/g, '');

/** GitHub's anchor of a heading's text: the rendered text, lower case, punctuation dropped, spaces as '-'. */
export function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors of a page's headings (a repeated heading gets -1, -2, … as on GitHub). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

export interface Link {
  readonly line: number;
  readonly target: string;
}

/** Markdown links `[text](target)` and images of a page, outside code. */
export function links(text: string): Link[] {
  const out: Link[] = [];
  proseLines(text).forEach((raw, i) => {
    const line = withoutCode(raw);
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] as string });
  });
  return out;
}

/** What is wrong with each link of `file` (a path inside `root`); empty when every link resolves. */
export function brokenLinks(root: string, file: string, text: string, read: (path: string) => string): string[] {
  const problems: string[] = [];
  const where = (l: Link): string => `${relative(root, file)}:${l.line}: (${l.target})`;
  for (const l of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue; // https:, mailto: …: another site
    const hash = l.target.indexOf('#');
    const pathPart = decodeURIComponent(hash < 0 ? l.target : l.target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(l.target.slice(hash + 1));
    const target = pathPart === '' ? file : resolve(dirname(file), pathPart);
    if (target !== root && !target.startsWith(root + sep)) {
      problems.push(`${where(l)} points outside the repository`);
      continue;
    }
    if (pathPart !== '' && !existsSync(target)) {
      problems.push(`${where(l)} names ${relative(root, target)}, which does not exist`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!target.endsWith('.md')) {
      problems.push(`${where(l)} has an anchor into ${relative(root, target)}, which is not a Markdown page`);
      continue;
    }
    if (!anchors(read(target)).has(anchor)) {
      problems.push(`${where(l)}: ${relative(root, target)} has no heading with the anchor #${anchor}`);
    }
  }
  return problems;
}

const DOCS = join(PACKAGE_ROOT, 'docs');
const pages = (): string[] => [
  join(PACKAGE_ROOT, 'README.md'),
  ...readdirSync(DOCS).filter((n) => n.endsWith('.md')).sort().map((n) => join(DOCS, n)),
];
const read = (p: string): string => readFileSync(p, 'utf8');

describe('links of the README and docs/', () => {
  it('every relative link names an existing file, and every #anchor a heading of its page', () => {
    const all = pages();
    assert.ok(all.length >= 10, `expected the README and the docs pages, found ${all.length}`);
    let count = 0;
    const problems: string[] = [];
    for (const p of all) {
      const text = read(p);
      count += links(text).length;
      problems.push(...brokenLinks(PACKAGE_ROOT, p, text, read));
    }
    assert.ok(count > 100, `read ${count} links`);
    assert.deepEqual(problems, []);
  });

  it('docs/README.md lists every page of docs/, and the README links to docs/README.md', () => {
    const index = links(read(join(DOCS, 'README.md'))).map((l) => l.target.split('#')[0]);
    const missing = readdirSync(DOCS).filter((n) => n.endsWith('.md') && n !== 'README.md' && !index.includes(n));
    assert.deepEqual(missing, [], 'pages of docs/ that docs/README.md does not link to');
    assert.ok(links(read(join(PACKAGE_ROOT, 'README.md'))).some((l) => l.target === 'docs/README.md'), 'README.md links to docs/README.md');
  });
});

describe('the link check finds what is wrong', () => {
  const root = PACKAGE_ROOT;
  const file = join(root, 'docs', 'example.md');
  const pagesByPath: Record<string, string> = {
    [join(root, 'docs', 'operations.md')]: '# Operations\n\n## Running as a service\n',
  };
  const readFake = (p: string): string => pagesByPath[p] ?? read(p);
  const check = (text: string): string[] => brokenLinks(root, file, text, (p) => (p === file ? text : readFake(p)));

  it('a missing file, an anchor without a heading, a link out of the repository', () => {
    const text = [
      '# Example', '', '## Spool: `new/` and `cur/`', '',
      'See [ops](operations.md#running-as-a-service), [here](#spool-new-and-cur), [top](../README.md).',
      'Broken: [gone](nothing-here.md), [bad anchor](operations.md#no-such-heading), [self](#nope), [out](../../etc/passwd).',
      'Not links: `[code](missing.md)`, [site](https://example.org/x.md).',
      '```', '[in a block](missing-too.md)', '```',
    ].join('\n');
    const problems = check(text);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0] as string, /docs\/example\.md:6: \(nothing-here\.md\) names docs\/nothing-here\.md, which does not exist/);
    assert.match(problems[1] as string, /operations\.md has no heading with the anchor #no-such-heading/);
    assert.match(problems[2] as string, /docs\/example\.md has no heading with the anchor #nope/);
    assert.match(problems[3] as string, /points outside the repository/);
  });

  const slugCases: Array<[string, string]> = [
    ['What is in the queue: status, show, requeue', 'what-is-in-the-queue-status-show-requeue'],
    ['Scheduled tasks: `[task NAME]`', 'scheduled-tasks-task-name'],
    ['FTP / FTPS', 'ftp--ftps'],
    ['GridFTP (`--gridftp-url`)', 'gridftp---gridftp-url'],
    ["jobman's layout", 'jobmans-layout'],
    ['uploadFiles() and jp-upload-files', 'uploadfiles-and-jp-upload-files'],
    ['Retry state: the `.meta` sidecars', 'retry-state-the-meta-sidecars'],
  ];
  for (const [heading, expected] of slugCases) {
    it(`the anchor of "${heading}" is #${expected}`, () => assert.equal(slug(heading), expected));
  }

  it('a repeated heading gets -1', () => {
    assert.deepEqual([...anchors('# A\n## Notes\n## Notes\n```\n# not a heading\n```\n')], ['a', 'notes', 'notes-1']);
  });
});
