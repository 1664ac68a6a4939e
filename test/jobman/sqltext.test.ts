import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DriverName } from '../../src/jobman/config-types.js';
import { compileScript, SqlTextError } from '../../src/jobman/sqltext.js';

type Case = { sql: string; d: DriverName; want: { text: string; params: string[] }[] };

test('sqltext: bind variables and statements', () => {
  const cases: Case[] = [
    { sql: 'INSERT INTO t VALUES (:A, :B)', d: 'sqlite', want: [{ text: 'INSERT INTO t VALUES (?, ?)', params: ['A', 'B'] }] },
    { sql: 'INSERT INTO t VALUES (:A, :B, :A)', d: 'mysql', want: [{ text: 'INSERT INTO t VALUES (?, ?, ?)', params: ['A', 'B', 'A'] }] },
    { sql: 'INSERT INTO t VALUES (:A, :B, :A)', d: 'postgres', want: [{ text: 'INSERT INTO t VALUES ($1, $2, $1)', params: ['A', 'B'] }] },
    { sql: "SELECT ':X', \":Y\", `:Z` FROM t WHERE a = :A", d: 'sqlite', want: [{ text: "SELECT ':X', \":Y\", `:Z` FROM t WHERE a = ?", params: ['A'] }] },
    { sql: "SELECT 'it''s :X' || :A", d: 'postgres', want: [{ text: "SELECT 'it''s :X' || $1", params: ['A'] }] },
    { sql: "SELECT 'it\\'s :X', :A", d: 'mysql', want: [{ text: "SELECT 'it\\'s :X', ?", params: ['A'] }] },
    { sql: 'SELECT "a\\"b :X", :A', d: 'mysql', want: [{ text: 'SELECT "a\\"b :X", ?', params: ['A'] }] },
    { sql: "SELECT E'a\\':X', :A", d: 'postgres', want: [{ text: "SELECT E'a\\':X', $1", params: ['A'] }] },
    { sql: 'SELECT :A::text, x::int', d: 'postgres', want: [{ text: 'SELECT $1::text, x::int', params: ['A'] }] },
    { sql: 'SET @x := :A', d: 'mysql', want: [{ text: 'SET @x := ?', params: ['A'] }] },
    { sql: 'SELECT 1 -- :X\n, :A /* :Y */', d: 'sqlite', want: [{ text: 'SELECT 1 -- :X\n, ? /* :Y */', params: ['A'] }] },
    { sql: 'SELECT 1 # :X\n, :A', d: 'mysql', want: [{ text: 'SELECT 1 # :X\n, ?', params: ['A'] }] },
    { sql: 'SELECT /* a /* nested :X */ :Y */ :A', d: 'postgres', want: [{ text: 'SELECT /* a /* nested :X */ :Y */ $1', params: ['A'] }] },
    { sql: 'SELECT $$ :X ; $$, $tag$ ; :Y $tag$, :A', d: 'postgres', want: [{ text: 'SELECT $$ :X ; $$, $tag$ ; :Y $tag$, $1', params: ['A'] }] },
    { sql: 'SELECT [a:b] FROM t', d: 'sqlite', want: [{ text: 'SELECT [a:b] FROM t', params: [] }] },
    { sql: 'SELECT :a_1, :B2', d: 'sqlite', want: [{ text: 'SELECT ?, ?', params: ['a_1', 'B2'] }] },
    { sql: 'SELECT jsonb_col ? :K FROM t', d: 'postgres', want: [{ text: 'SELECT jsonb_col ? $1 FROM t', params: ['K'] }] },
    {
      sql: 'INSERT INTO t VALUES (:A);\n-- then\nSELECT :A AS x;\n',
      d: 'sqlite',
      want: [{ text: 'INSERT INTO t VALUES (?)', params: ['A'] }, { text: '-- then\nSELECT ? AS x', params: ['A'] }],
    },
    { sql: "SELECT ';' ; ; -- only a comment\n;", d: 'sqlite', want: [{ text: "SELECT ';'", params: [] }] },
    { sql: 'CALL p(:A, @err); SELECT @err AS ERROR_MESSAGE', d: 'mysql', want: [{ text: 'CALL p(?, @err)', params: ['A'] }, { text: 'SELECT @err AS ERROR_MESSAGE', params: [] }] },
    { sql: 'SELECT a--b\nFROM t', d: 'mysql', want: [{ text: 'SELECT a--b\nFROM t', params: [] }] },
    { sql: '/* only */ -- comments', d: 'postgres', want: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(compileScript(c.sql, c.d), c.want, `${c.d}: ${c.sql}`);
  }
});

test('sqltext: refused scripts name the line', () => {
  const cases: { sql: string; d: DriverName; re: RegExp }[] = [
    { sql: 'SELECT ?', d: 'sqlite', re: /line 1: positional parameter '\?'/ },
    { sql: 'SELECT 1,\n ?', d: 'mysql', re: /line 2: positional parameter/ },
    { sql: 'SELECT $1', d: 'postgres', re: /positional parameter \$1/ },
    { sql: 'SELECT @x', d: 'sqlite', re: /parameter @x…: use :NAME/ },
    { sql: 'SELECT $x', d: 'sqlite', re: /parameter \$x…: use :NAME/ },
    { sql: "SELECT 'abc", d: 'sqlite', re: /unterminated string/ },
    { sql: 'SELECT "abc', d: 'postgres', re: /unterminated quoted/ },
    { sql: 'SELECT /* abc', d: 'mysql', re: /unterminated \/\* comment/ },
    { sql: 'SELECT $q$ abc', d: 'postgres', re: /unterminated \$q\$ quoted string/ },
    { sql: 'SELECT [abc', d: 'sqlite', re: /unterminated \[identifier\]/ },
  ];
  for (const c of cases) {
    assert.throws(() => compileScript(c.sql, c.d), (e: unknown) => {
      assert.ok(e instanceof SqlTextError);
      assert.match(e.message, c.re, c.sql);
      return true;
    }, c.sql);
  }
});
