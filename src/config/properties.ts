/**
 * Java .properties syntax, as server.properties uses it: `key=value`, `key: value` or
 * `key value`; `#` and `!` comment lines; a trailing backslash continues the line (the
 * next line's leading blanks dropped); escapes \t \n \r \f \uXXXX, and \x for any other x.
 * Later duplicates win, as in java.util.Properties.
 */

export interface PropertyEntry {
  key: string;
  value: string;
  /** 1-based line where the entry starts. */
  line: number;
}

const BLANK = new Set([' ', '\t', '\f']);

export function parseProperties(text: string): PropertyEntry[] {
  const lines = text.split(/\r\n|\r|\n/);
  const out: PropertyEntry[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let logical = stripLeading(lines[i]!);
    i++;
    if (logical === '' || logical[0] === '#' || logical[0] === '!') continue;
    while (endsWithContinuation(logical) && i <= lines.length) {
      logical = logical.slice(0, -1) + (i < lines.length ? stripLeading(lines[i]!) : '');
      i++;
    }
    const entry = splitEntry(logical);
    out.push({ key: unescapeJava(entry.key), value: unescapeJava(entry.value), line: startLine });
  }
  return out;
}

/** Entries as a record (last duplicate wins). */
export function propertiesToRecord(entries: readonly PropertyEntry[]): Record<string, string> {
  // Through a Map, so that a key such as __proto__ becomes a plain own property.
  const map = new Map<string, string>();
  for (const e of entries) map.set(e.key, e.value);
  return Object.fromEntries(map);
}

function stripLeading(s: string): string {
  let k = 0;
  while (k < s.length && BLANK.has(s[k]!)) k++;
  return s.slice(k);
}

/** An odd number of trailing backslashes continues the line. */
function endsWithContinuation(s: string): boolean {
  let n = 0;
  for (let k = s.length - 1; k >= 0 && s[k] === '\\'; k--) n++;
  return n % 2 === 1;
}

function splitEntry(line: string): { key: string; value: string } {
  let k = 0;
  while (k < line.length) {
    const c = line[k]!;
    if (c === '\\') {
      k += 2;
      continue;
    }
    if (c === '=' || c === ':' || BLANK.has(c)) break;
    k++;
  }
  const key = line.slice(0, Math.min(k, line.length));
  let v = k;
  while (v < line.length && BLANK.has(line[v]!)) v++;
  if (v < line.length && (line[v] === '=' || line[v] === ':')) v++;
  while (v < line.length && BLANK.has(line[v]!)) v++;
  return { key, value: line.slice(v) };
}

function unescapeJava(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++k];
    if (n === undefined) break;
    switch (n) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        const hex = s.slice(k + 1, k + 5);
        if (/^[0-9a-fA-F]{4}$/.test(hex)) {
          out += String.fromCharCode(Number.parseInt(hex, 16));
          k += 4;
        } else {
          out += 'u';
        }
        break;
      }
      default:
        out += n;
    }
  }
  return out;
}

/** Writes entries in properties syntax that parseProperties reads back exactly (keys and values escaped). */
export function stringifyProperties(record: Readonly<Record<string, string>>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(record)) lines.push(`${escapeJava(key, true)}=${escapeJava(value, false)}`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function escapeJava(s: string, isKey: boolean): string {
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!;
    const code = c.charCodeAt(0);
    if (c === '\\') out += '\\\\';
    else if (c === '\t') out += '\\t';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\f') out += '\\f';
    else if (c === '=' || c === ':' || c === '#' || c === '!') out += `\\${c}`;
    else if (c === ' ' && (isKey || k === 0)) out += '\\ ';
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out;
}
