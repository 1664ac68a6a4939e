/**
 * No log call or child binding in src/ uses a key pino writes on every line
 * itself (src/core/log.ts LINE_KEYS): pino does not merge such keys, it writes
 * them twice, and a JSON reader keeps only the last (the upload worker's
 * message id was lost this way under "msg"). Checked on the syntax tree of
 * every source file: the object literal given to .trace/.debug/.info/.warn/
 * .error/.fatal/.child, or a `const x = {…}` of the same function passed by
 * name. Spreads of other objects are left to the log-line test of a daemon
 * run (test/daemon/log-lines.test.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { LINE_KEYS } from '../../src/core/log.js';
import { projectFile } from '../helpers/certs.js';

const METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'child']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The object literal a call's first argument stands for, if it can be told from the syntax. */
function literalOf(arg: ts.Expression | undefined, call: ts.Node): ts.ObjectLiteralExpression | undefined {
  if (arg === undefined) return undefined;
  if (ts.isObjectLiteralExpression(arg)) return arg;
  if (!ts.isIdentifier(arg)) return undefined;
  let scope: ts.Node | undefined = call.parent;
  while (scope !== undefined && !ts.isFunctionLike(scope) && !ts.isSourceFile(scope)) scope = scope.parent;
  let found: ts.ObjectLiteralExpression | undefined;
  const visit = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === arg.text && n.initializer !== undefined
      && ts.isObjectLiteralExpression(n.initializer)) found = n.initializer;
    ts.forEachChild(n, visit);
  };
  if (scope !== undefined) visit(scope);
  return found;
}

function keysOf(o: ts.ObjectLiteralExpression): { key: string; node: ts.Node }[] {
  const out: { key: string; node: ts.Node }[] = [];
  for (const p of o.properties) {
    if (ts.isShorthandPropertyAssignment(p)) out.push({ key: p.name.text, node: p });
    else if ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p)) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) {
      out.push({ key: p.name.text, node: p });
    } else if (ts.isSpreadAssignment(p) && ts.isObjectLiteralExpression(p.expression)) out.push(...keysOf(p.expression));
  }
  return out;
}

/** `file:line: .method({ key })` for every log call or binding in `text` that uses a reserved key. */
export function reservedKeyUses(file: string, text: string, reserved: readonly string[]): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && METHODS.has(n.expression.name.text)) {
      const o = literalOf(n.arguments[0], n);
      if (o !== undefined) {
        for (const { key, node } of keysOf(o)) {
          if (reserved.includes(key)) {
            found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: .${n.expression.name.text}({ ${key} })`);
          }
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

test('the checker finds reserved keys in log calls, bindings, named objects and literal spreads, and only there', () => {
  const src = [
    "log.child({ msg: m.name, kind });",
    "log.info({ id: 1, 'time': 2 }, 'x');",
    "function f() { const fields = { level: 1 }; log.warn(fields, 'y'); }",
    "log.error({ ...{ pid: 1 } }, 'z');",
    "log.debug({ hostname }, 'h');",
    "log.fatal({ name: 'n' }, 'n');",
    "other.push({ msg: 1 });",
    "log.info({ id: 1, message: 'fine', job: 'j' }, 'ok');",
    "function g() { const fields = { msg: 1 }; send(fields); }",
  ].join('\n');
  assert.deepEqual(reservedKeyUses('t.ts', src, LINE_KEYS), [
    't.ts:1: .child({ msg })',
    't.ts:2: .info({ time })',
    't.ts:3: .warn({ level })',
    't.ts:4: .error({ pid })',
    't.ts:5: .debug({ hostname })',
    't.ts:6: .fatal({ name })',
  ]);
});

test('no log call or child binding in src/ uses a key pino writes itself', () => {
  const src = dirname(dirname(projectFile('src/core/log.ts')));
  const files = sourceFiles(src);
  assert.ok(files.length > 50, `${files.length} source files under ${src}`);
  const uses = files.flatMap((f) => reservedKeyUses(relative(dirname(src), f), readFileSync(f, 'utf8'), LINE_KEYS));
  assert.deepEqual(uses, []);
});
