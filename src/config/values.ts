/**
 * String <-> typed value, by config type, with Kafka's parsing rules (trimmed numbers and
 * booleans, comma-separated lists, Long.MAX_VALUE for "no limit"), and the check against
 * a property's valid values.
 */
import {
  type ConfigDef,
  type ConfigTypeName,
  type ConfigValue,
  LONG_MAX,
  LONG_MAX_STRING,
  type Validator,
} from './types.ts';

export type Parsed = { ok: true; value: ConfigValue } | { ok: false; error: string };

const INT_RE = /^[+-]?\d+$/;
const DOUBLE_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const CLASS_RE = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

const EXPECTED: Record<ConfigTypeName, string> = {
  boolean: 'expected true or false',
  short: 'expected a 16-bit integer',
  int: 'expected an integer',
  long: 'expected a long integer',
  double: 'expected a number',
  string: 'expected a string',
  list: 'expected a comma-separated list',
  password: 'expected a string',
  class: 'expected a class name',
};

function integer(raw: string, bits: 16 | 32 | 64): number | undefined {
  if (!INT_RE.test(raw)) return undefined;
  const big = BigInt(raw);
  const limit = 1n << BigInt(bits - 1);
  if (big < -limit || big >= limit) return undefined;
  if (bits === 64 && big === limit - 1n) return LONG_MAX;
  return Number(big);
}

/** Parses a raw property value by type (without checking valid values). */
export function parseByType(type: ConfigTypeName, raw: string): ConfigValue | undefined {
  switch (type) {
    case 'boolean': {
      const t = raw.trim().toLowerCase();
      return t === 'true' ? true : t === 'false' ? false : undefined;
    }
    case 'short':
      return integer(raw.trim(), 16);
    case 'int':
      return integer(raw.trim(), 32);
    case 'long':
      return integer(raw.trim(), 64);
    case 'double': {
      const t = raw.trim();
      return DOUBLE_RE.test(t) ? Number(t) : undefined;
    }
    case 'string':
      return raw.trim();
    case 'password':
      return raw;
    case 'list': {
      const t = raw.trim();
      return t === '' ? [] : t.split(',').map((s) => s.trim());
    }
    case 'class': {
      const t = raw.trim();
      return CLASS_RE.test(t) ? t : undefined;
    }
  }
}

/** What a validator accepts, in words ("at least 1", "one of CreateTime, LogAppendTime"). */
export function describeValidator(v: Validator | undefined): string | undefined {
  if (v === undefined) return undefined;
  switch (v.kind) {
    case 'range':
      if (v.min !== undefined && v.max !== undefined) return `between ${v.min} and ${v.max}`;
      if (v.min !== undefined) return `at least ${v.min}`;
      if (v.max !== undefined) return `at most ${v.max}`;
      return undefined;
    case 'in':
      return `one of ${v.values.join(', ')}`;
    case 'list-in':
      return `a list of ${v.values.join(', ')}`;
    case 'custom':
      return v.describe;
  }
}

/** Checks a parsed value against a validator; returns what was expected, or undefined. */
export function checkValid(v: Validator | undefined, value: ConfigValue): string | undefined {
  if (v === undefined || value === null) return undefined;
  switch (v.kind) {
    case 'range': {
      if (typeof value !== 'number') return undefined;
      if ((v.min !== undefined && value < v.min) || (v.max !== undefined && value > v.max)) {
        return `expected a value ${describeValidator(v)}`;
      }
      return undefined;
    }
    case 'in': {
      if (typeof value !== 'string') return undefined;
      const ok = v.caseInsensitive
        ? v.values.some((x) => x.toLowerCase() === value.toLowerCase())
        : v.values.includes(value);
      return ok ? undefined : `expected one of ${v.values.join(', ')}`;
    }
    case 'list-in': {
      if (!Array.isArray(value)) return undefined;
      const list = value as readonly string[];
      if (list.length === 0 && v.allowEmpty === false) return `expected at least one of ${v.values.join(', ')}`;
      const bad = list.find((x) => !v.values.includes(x));
      return bad === undefined ? undefined : `expected a list of ${v.values.join(', ')} (got "${bad}")`;
    }
    case 'custom':
      return v.check(value);
  }
}

/** Parses and validates a raw value for a property; the error names the value and the property. */
export function parseValue(def: ConfigDef, raw: string): Parsed {
  const value = parseByType(def.type, raw);
  if (value === undefined) return { ok: false, error: invalid(def, raw, EXPECTED[def.type]) };
  const why = checkValid(def.valid, value);
  if (why !== undefined) return { ok: false, error: invalid(def, raw, why) };
  return { ok: true, value };
}

function invalid(def: ConfigDef, raw: string, why: string): string {
  const shown = def.type === 'password' ? '[hidden]' : raw;
  return `invalid value "${shown}" for "${def.name}": ${why}`;
}

/** A typed value back to properties syntax, as DescribeConfigs reports it (Java's formatting). */
export function formatValue(type: ConfigTypeName, value: ConfigValue): string | null {
  if (value === null) return null;
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (value === LONG_MAX) return LONG_MAX_STRING;
    if (type === 'double') return Number.isInteger(value) ? value.toFixed(1) : String(value);
    return String(value);
  }
  return value as string;
}
