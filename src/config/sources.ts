/**
 * Where broker properties come from, lowest precedence first:
 *   Kafka's defaults < a server.properties file (--config FILE) < RUNNEL_* environment
 *   variables < --set key=value flags (later flags win).
 *
 * Environment names follow the Kafka container images: drop the prefix, lower-case, then
 * `___` -> `-`, `__` -> `_`, `_` -> `.` (RUNNEL_LOG_DIRS -> log.dirs,
 * RUNNEL_LISTENER_SECURITY_PROTOCOL_MAP -> listener.security.protocol.map).
 */
import { readFileSync } from 'node:fs';
import { BrokerConfig, type PropertyOrigin } from './broker-config.ts';
import { parseProperties } from './properties.ts';
import { ConfigError } from './types.ts';

export const ENV_PREFIX = 'RUNNEL_';

/**
 * RUNNEL_* variables that are not broker properties (read by the CLI and tooling), left
 * out of the mapping so they are not reported as unknown configurations.
 */
export const NON_PROPERTY_ENV = new Set([
  'RUNNEL_LOG_LEVEL',
  'RUNNEL_OPTS',
  'RUNNEL_HOME',
  'RUNNEL_FROM_SOURCE',
  'RUNNEL_BOOTSTRAP_SERVER',
  'RUNNEL_BENCH_BROKER_ENTRY',
  'RUNNEL_START_TRACE',
]);

/** RUNNEL_LOG_DIRS -> log.dirs; undefined when the variable does not carry the prefix. */
export function envNameToProperty(variable: string, prefix = ENV_PREFIX): string | undefined {
  if (!variable.startsWith(prefix) || variable.length === prefix.length) return undefined;
  return variable
    .slice(prefix.length)
    .toLowerCase()
    .replace(/_{1,3}/g, (run) => (run.length === 3 ? '-' : run.length === 2 ? '_' : '.'));
}

/** log.dirs -> RUNNEL_LOG_DIRS (the inverse, for docs and messages). */
export function propertyToEnvName(property: string, prefix = ENV_PREFIX): string {
  const body = property.replace(/[-_.]/g, (c) => (c === '-' ? '___' : c === '_' ? '__' : '_'));
  return prefix + body.toUpperCase();
}

export interface SourcedProperty {
  name: string;
  value: string;
  origin: PropertyOrigin;
}

/** Broker properties from the environment (RUNNEL_* variables, minus NON_PROPERTY_ENV). */
export function propertiesFromEnv(env: Readonly<Record<string, string | undefined>>): SourcedProperty[] {
  const out: SourcedProperty[] = [];
  for (const variable of Object.keys(env).sort()) {
    const value = env[variable];
    if (value === undefined || NON_PROPERTY_ENV.has(variable)) continue;
    const name = envNameToProperty(variable);
    if (name !== undefined) out.push({ name, value, origin: { kind: 'env', variable } });
  }
  return out;
}

/** `key=value` from a --set flag (the value may itself contain '='). */
export function parseSetFlag(flag: string): SourcedProperty {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new ConfigError(`invalid --set "${flag}": expected key=value`);
  return { name: flag.slice(0, eq).trim(), value: flag.slice(eq + 1), origin: { kind: 'flag' } };
}

/** Properties of a server.properties-style text. */
export function propertiesFromFile(path: string, text: string): SourcedProperty[] {
  return parseProperties(text).map((e) => ({
    name: e.key,
    value: e.value,
    origin: { kind: 'file', path, line: e.line },
  }));
}

export interface BrokerConfigSources {
  /** server.properties contents (the caller read the file). */
  file?: { path: string; text: string };
  /** Usually process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** --set flags, in command-line order. */
  sets?: readonly string[];
  /** Programmatic properties (tests, embedding), above everything else. */
  overrides?: Readonly<Record<string, string>>;
}

/** Merges the sources by precedence and validates the result; throws ConfigError naming each bad property. */
export function loadBrokerConfig(sources: BrokerConfigSources = {}): BrokerConfig {
  const layers: SourcedProperty[][] = [
    sources.file ? propertiesFromFile(sources.file.path, sources.file.text) : [],
    sources.env ? propertiesFromEnv(sources.env) : [],
    (sources.sets ?? []).map(parseSetFlag),
    Object.entries(sources.overrides ?? {}).map(([name, value]) => ({
      name,
      value,
      origin: { kind: 'code' } as const,
    })),
  ];
  const values = new Map<string, string>();
  const origins = new Map<string, PropertyOrigin>();
  for (const layer of layers) {
    for (const p of layer) {
      values.set(p.name, p.value);
      origins.set(p.name, p.origin);
    }
  }
  return new BrokerConfig(Object.fromEntries(values), origins);
}

/** For the CLI: reads --config FILE (if given), then loads as loadBrokerConfig does. */
export function loadBrokerConfigFromCli(options: {
  configPath?: string | undefined;
  sets?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
}): BrokerConfig {
  let file: { path: string; text: string } | undefined;
  if (options.configPath !== undefined) {
    try {
      file = { path: options.configPath, text: readFileSync(options.configPath, 'utf8') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(`cannot read config file "${options.configPath}": ${code}`);
    }
  }
  return loadBrokerConfig({
    ...(file !== undefined ? { file } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.sets !== undefined ? { sets: options.sets } : {}),
  });
}
