/**
 * A strict check of one JSON text: valid JSON (RFC 8259) whose objects each
 * name a key once. JSON.parse accepts `{"msg":"a","msg":"b"}` and keeps the
 * last value, which is how a log line loses a field without anyone noticing;
 * this scanner says so. Keys are compared after unescaping ("a" = "\u0061").
 */

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const MAX_DEPTH = 512;

class Problem extends Error {}

/** undefined when `text` is one valid JSON value without a duplicate key, else what is wrong and where. */
export function jsonProblem(text: string): string | undefined {
  let pos = 0;
  const fail = (what: string): never => {
    throw new Problem(`${what} at offset ${pos}`);
  };
  const ws = (): void => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const token = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) fail('nested too deep');
    ws();
    const c = text[pos];
    if (c === '{') object(depth);
    else if (c === '[') array(depth);
    else if (c === '"') {
      if (token(STRING) === undefined) fail('invalid string');
    } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      if (token(NUMBER) === undefined) fail('invalid number');
    } else if (text.startsWith('true', pos)) pos += 4;
    else if (text.startsWith('false', pos)) pos += 5;
    else if (text.startsWith('null', pos)) pos += 4;
    else fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    ws();
  };
  const object = (depth: number): void => {
    pos++; // {
    const keys = new Set<string>();
    ws();
    if (text[pos] === '}') {
      pos++;
      return;
    }
    for (;;) {
      ws();
      const at = pos;
      const raw = token(STRING);
      if (raw === undefined) fail('expected a key');
      const key = JSON.parse(raw as string) as string;
      if (keys.has(key)) {
        pos = at;
        fail(`duplicate key ${raw as string}`);
      }
      keys.add(key);
      ws();
      if (text[pos] !== ':') fail("expected ':'");
      pos++;
      value(depth + 1);
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth: number): void => {
    pos++; // [
    ws();
    if (text[pos] === ']') {
      pos++;
      return;
    }
    for (;;) {
      value(depth + 1);
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        return;
      }
      fail("expected ',' or ']'");
    }
  };
  try {
    value(0);
    if (pos !== text.length) fail('text after the value');
  } catch (e) {
    if (e instanceof Problem) return e.message;
    throw e;
  }
  // The scanner and JSON.parse must agree on validity (a scanner bug shows here, not as a pass).
  try {
    JSON.parse(text);
  } catch (e) {
    return `scanner accepted what JSON.parse refuses: ${(e as Error).message}`;
  }
  return undefined;
}

/** Every line of `text` (one JSON object per line, as pino writes) that is not a valid object with one value per key. */
export function badJsonLines(text: string): { line: string; problem: string }[] {
  const bad: { line: string; problem: string }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const problem = jsonProblem(line) ?? (isObject(JSON.parse(line)) ? undefined : 'not a JSON object');
    if (problem !== undefined) bad.push({ line, problem });
  }
  return bad;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
