/**
 * SQL script text (pure): split a script into statements at top-level `;`
 * and translate `:NAME` bind variables into each driver's placeholders
 * (`?` for SQLite and MySQL/MariaDB, `$1…` for PostgreSQL).
 *
 * The lexer knows enough of each dialect not to look inside string
 * literals, quoted identifiers and comments: '…' ('' escape; backslash
 * escapes in MySQL and in PostgreSQL E'…'), "…" (identifier, or a string in
 * MySQL), `…`, […] (SQLite), -- and /* comments (nested in PostgreSQL),
 * # comments (MySQL), $tag$…$tag$ (PostgreSQL). `::` casts and `:=` are not
 * bind variables. Positional placeholders (`?`, `$1`, SQLite `@x`/`$x`) are
 * refused so that every value comes from the row by name.
 */
import type { DriverName } from './config-types.js';

export interface CompiledStatement {
  /** Text with driver placeholders. */
  readonly text: string;
  /**
   * Bind-variable names in placeholder order: one per `?` (repeats allowed),
   * or for PostgreSQL the name of `$1`, `$2`, … (each name once).
   */
  readonly params: readonly string[];
}

export class SqlTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlTextError';
  }
}

const IDENT_CHAR = /[A-Za-z0-9_$]/;
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

type Piece = { kind: 'text'; text: string } | { kind: 'param'; name: string } | { kind: 'end' };

function lineOf(s: string, i: number): number {
  let n = 1;
  for (let k = 0; k < i && k < s.length; k++) if (s.charCodeAt(k) === 10) n++;
  return n;
}

/** Tokenise into literal text, bind variables and statement ends. */
function lex(s: string, dialect: DriverName): Piece[] {
  const out: Piece[] = [];
  let buf = '';
  let i = 0;
  const n = s.length;
  const flush = (): void => {
    if (buf !== '') out.push({ kind: 'text', text: buf });
    buf = '';
  };
  const fail = (why: string, at: number): never => {
    throw new SqlTextError(`line ${lineOf(s, at)}: ${why}`);
  };
  /** Index just after the closing `q` of a quoted run starting at i (the opening quote). */
  const quoted = (start: number, q: string, backslash: boolean): number => {
    let k = start + 1;
    for (;;) {
      if (k >= n) fail(`unterminated ${q === "'" ? 'string' : 'quoted'} literal`, start);
      const c = s[k];
      if (backslash && c === '\\') {
        k += 2;
        continue;
      }
      if (c === q) {
        if (s[k + 1] === q) {
          k += 2;
          continue;
        }
        return k + 1;
      }
      k++;
    }
  };
  while (i < n) {
    const c = s[i] as string;
    const next = s[i + 1];
    const prev = i > 0 ? s[i - 1] : undefined;
    let end = -1;
    if (c === '-' && next === '-' && (dialect !== 'mysql' || i + 2 >= n || /\s/.test(s[i + 2] as string))) {
      const nl = s.indexOf('\n', i);
      end = nl < 0 ? n : nl;
    } else if (c === '#' && dialect === 'mysql') {
      const nl = s.indexOf('\n', i);
      end = nl < 0 ? n : nl;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let k = i + 2;
      while (depth > 0) {
        if (k >= n) fail('unterminated /* comment', i);
        if (s[k] === '*' && s[k + 1] === '/') {
          depth--;
          k += 2;
        } else if (dialect === 'postgres' && s[k] === '/' && s[k + 1] === '*') {
          depth++;
          k += 2;
        } else {
          k++;
        }
      }
      end = k;
    } else if (c === "'") {
      const eString = dialect === 'postgres' && (prev === 'E' || prev === 'e') && !IDENT_CHAR.test(s[i - 2] ?? ' ');
      end = quoted(i, "'", dialect === 'mysql' || eString);
    } else if (c === '"') {
      end = quoted(i, '"', dialect === 'mysql');
    } else if (c === '`' && dialect !== 'postgres') {
      end = quoted(i, '`', false);
    } else if (c === '[' && dialect === 'sqlite') {
      const k = s.indexOf(']', i + 1);
      if (k < 0) fail('unterminated [identifier]', i);
      end = k + 1;
    } else if (c === '$' && dialect === 'postgres' && !IDENT_CHAR.test(prev ?? ' ')) {
      if (next !== undefined && /[0-9]/.test(next)) fail(`positional parameter $${next}…: use :NAME bind variables`, i);
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(s.slice(i, i + 66));
      if (m !== null) {
        const tag = m[0];
        const k = s.indexOf(tag, i + tag.length);
        if (k < 0) fail(`unterminated ${tag} quoted string`, i);
        end = k + tag.length;
      }
    } else if (c === '?' && dialect !== 'postgres') {
      fail("positional parameter '?': use :NAME bind variables", i);
    } else if ((c === '@' || c === '$') && dialect === 'sqlite' && next !== undefined && NAME_START.test(next) && !IDENT_CHAR.test(prev ?? ' ')) {
      fail(`parameter ${c}${next}…: use :NAME bind variables`, i);
    } else if (c === ':' && next !== undefined && NAME_START.test(next) && prev !== ':') {
      let k = i + 1;
      while (k < n && NAME_CHAR.test(s[k] as string)) k++;
      flush();
      out.push({ kind: 'param', name: s.slice(i + 1, k) });
      i = k;
      continue;
    } else if (c === ';') {
      flush();
      out.push({ kind: 'end' });
      i++;
      continue;
    }
    if (end >= 0) {
      buf += s.slice(i, end);
      i = end;
    } else {
      buf += c;
      i++;
    }
  }
  flush();
  return out;
}

/** True when a statement holds something other than blanks and comments. */
function hasCode(pieces: readonly Piece[], dialect: DriverName): boolean {
  for (const p of pieces) {
    if (p.kind === 'param') return true;
    if (p.kind !== 'text') continue;
    let stripped = p.text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
    if (dialect === 'mysql') stripped = stripped.replace(/#[^\n]*/g, ' ');
    if (stripped.trim() !== '') return true;
  }
  return false;
}

function render(pieces: readonly Piece[], dialect: DriverName): CompiledStatement {
  let text = '';
  const params: string[] = [];
  for (const p of pieces) {
    if (p.kind === 'text') {
      text += p.text;
    } else if (p.kind === 'param') {
      if (dialect === 'postgres') {
        let idx = params.indexOf(p.name);
        if (idx < 0) idx = params.push(p.name) - 1;
        text += `$${idx + 1}`;
      } else {
        params.push(p.name);
        text += '?';
      }
    }
  }
  return { text: text.trim(), params };
}

/** Split a script into statements and translate its bind variables. */
export function compileScript(script: string, dialect: DriverName): CompiledStatement[] {
  const pieces = lex(script, dialect);
  const out: CompiledStatement[] = [];
  let cur: Piece[] = [];
  for (const p of [...pieces, { kind: 'end' } as const]) {
    if (p.kind !== 'end') {
      cur.push(p);
      continue;
    }
    if (hasCode(cur, dialect)) out.push(render(cur, dialect));
    cur = [];
  }
  return out;
}
