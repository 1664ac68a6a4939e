/**
 * X.509 subject names in the slash form used across the grid world
 * (`/C=CZ/O=Example/CN=Jane Doe`, as `openssl x509 -subject -nameopt compat`
 * prints it). Pure.
 */

/**
 * Convert Node's X509Certificate.subject/issuer text (one RDN per line,
 * RFC 2253 escapes, multi-valued RDNs joined by " + ") to slash form.
 */
export function nodeSubjectToSlash(subject: string): string {
  const rdns = subject.split('\n').filter((l) => l !== '');
  return rdns.map((rdn) => `/${splitUnescaped(rdn, ' + ').map(unescapeRfc2253).join('+')}`).join('');
}

/** Split on a separator that is not preceded by an escaping backslash. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] as string);
      i++;
    } else if (s.startsWith(sep, i)) {
      out.push(cur);
      cur = '';
      i += sep.length - 1;
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** Undo RFC 2253 escapes: `\,` → `,`, `\C3\A9` → `é` (hex pairs are UTF-8). */
function unescapeRfc2253(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  let out = '';
  const flush = (): void => {
    if (bytes.length > 0) {
      out += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      const hex = s.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
        continue;
      }
      flush();
      out += s[i + 1] as string;
      i++;
      continue;
    }
    flush();
    out += c;
  }
  flush();
  return out;
}
