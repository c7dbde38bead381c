/**
 * Writes docs/configuration.md from the property tables, so the page cannot drift from
 * the code (test/config/docs.test.ts checks it). Regenerate with:
 *
 *   node --import tsx src/config/docs.ts --write && npx biome format --write docs/configuration.md
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BROKER_CONFIG_DEFS } from './broker-defs.ts';
import { propertyToEnvName } from './sources.ts';
import { TOPIC_CONFIG_DEFS } from './topic-defs.ts';
import type { ConfigDef } from './types.ts';
import { describeValidator } from './values.ts';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function defaultCell(def: ConfigDef): string {
  if (def.defaultValue === null) return '_(none)_';
  if (def.defaultValue === '') return '_(empty)_';
  if (def.defaultValue === '9223372036854775807') return '`9223372036854775807` (Long.MAX)';
  return `\`${def.defaultValue}\``;
}

function row(def: ConfigDef, extra: string): string {
  const valid = describeValidator(def.valid) ?? '';
  const doc = def.note ? `${def.doc} _${def.note}_` : def.doc;
  return `| \`${def.name}\` | ${def.type} | ${defaultCell(def)} | ${cell(valid)} | ${extra} | ${cell(doc)} |`;
}

export function renderConfigurationDoc(): string {
  const out: string[] = [];
  out.push('# Configuration');
  out.push('');
  out.push('<!-- Generated from src/config/broker-defs.ts and src/config/topic-defs.ts by');
  out.push('     `node --import tsx src/config/docs.ts --write`. Edit the tables, not this file. -->');
  out.push('');
  out.push("Runnel takes Kafka's property names, types, defaults and valid values. Where a default");
  out.push("differs from Kafka's (so that one node runs with no configuration at all), the entry says so.");
  out.push('');
  out.push('## Where settings come from');
  out.push('');
  out.push('Lowest precedence first; a later source replaces an earlier one property by property:');
  out.push('');
  out.push('1. the defaults below;');
  out.push('2. a `server.properties`-style file given with `--config FILE` (Java properties syntax:');
  out.push(
    '   `#`/`!` comments, `key=value` or `key: value`, `\\` continues a line, escapes such as `\\t`, `\\uXXXX`);',
  );
  out.push('3. environment variables: `RUNNEL_` then the name upper-cased with `.` written `_`, `_` written `__`');
  out.push('   and `-` written `___` (`log.dirs` is `RUNNEL_LOG_DIRS`); `RUNNEL_LOG_LEVEL`, `RUNNEL_OPTS` and');
  out.push('   `RUNNEL_HOME` are not properties;');
  out.push('4. `--set key=value` flags, repeatable, the last one winning.');
  out.push('');
  out.push('An unknown name or an invalid value stops the start with a message naming the property and');
  out.push('its source, e.g. `invalid value "abc" for "num.partitions": expected an integer (--set)`.');
  out.push('');
  out.push('Derived values follow Kafka: `log.retention.ms` wins over `log.retention.minutes`, which wins over');
  out.push('`log.retention.hours` (likewise `log.roll.ms` / `log.roll.hours`, `log.roll.jitter.ms` /');
  out.push('`log.roll.jitter.hours`); `log.dirs` wins over `log.dir`; `node.id` falls back to `broker.id`.');
  out.push('Listeners are `NAME://host:port` entries, the name mapped to a security protocol by');
  out.push('`listener.security.protocol.map`; an empty host listens on every interface and port 0 takes a');
  out.push('free port. "Long.MAX" (9223372036854775807) means "no limit".');
  out.push('');
  out.push('A property may be set for one listener only as `listener.name.<listener>.<property>`');
  out.push('(`listener.name.internal.max.connections=100`); SASL settings may also be scoped to a mechanism');
  out.push('(`listener.name.sasl_ssl.plain.sasl.jaas.config=...`). The listener must be in `listeners`.');
  out.push('');
  out.push('## Node and V8 settings');
  out.push('');
  out.push('`runnel start` sets one V8 flag itself, first thing: `--heap-growing-percent=300`');
  out.push('(src/broker/heap-growth.ts). V8 then lets the old generation grow to four times what a full');
  out.push('garbage collection left alive before it starts the next one (the largest factor V8 picks by');
  out.push('itself). V8 counts the memory of Buffers allocated since the last full collection against that');
  out.push("limit, and without the flag the broker's network buffers started full collections back to back");
  out.push('at 50 MB/s (docs/performance.md, "Produce path and end-to-end latency"). The same flag on');
  out.push("node's command line is overridden; other Node settings (`--max-old-space-size`, ...) work as");
  out.push('usual, through `NODE_OPTIONS` for instance.');
  out.push('');
  out.push('## Broker properties');
  out.push('');
  out.push('"Dynamic" tells whether IncrementalAlterConfigs may change a property on a running broker');
  out.push('(`cluster-wide`, `per-broker`) or only a restart can (`read-only`).');
  out.push('');
  out.push('| Name | Type | Default | Valid values | Dynamic | Description |');
  out.push('| --- | --- | --- | --- | --- | --- |');
  for (const def of [...BROKER_CONFIG_DEFS].sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(row(def, def.dynamic));
  }
  out.push('');
  out.push('## Topic configs');
  out.push('');
  out.push('Set per topic at creation (`CreateTopics`) or later (`IncrementalAlterConfigs`). A topic that');
  out.push('does not set one takes the broker property in the "Broker default" column (the first that is');
  out.push('set, in order), then the default shown here.');
  out.push('');
  out.push('| Name | Type | Default | Valid values | Broker default | Description |');
  out.push('| --- | --- | --- | --- | --- | --- |');
  for (const def of TOPIC_CONFIG_DEFS) {
    out.push(row(def, def.brokerSynonyms.map((s) => `\`${s}\``).join(', ')));
  }
  out.push('');
  out.push('## Environment variable names, by example');
  out.push('');
  out.push('| Property | Environment variable |');
  out.push('| --- | --- |');
  for (const name of [
    'log.dirs',
    'listeners',
    'advertised.listeners',
    'num.partitions',
    'offsets.topic.replication.factor',
  ]) {
    out.push(`| \`${name}\` | \`${propertyToEnvName(name)}\` |`);
  }
  out.push('');
  return out.join('\n');
}

export const CONFIGURATION_DOC_PATH = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  writeFileSync(CONFIGURATION_DOC_PATH, renderConfigurationDoc());
  console.log(`wrote ${CONFIGURATION_DOC_PATH}`);
}
