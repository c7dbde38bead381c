/**
 * Listener lists as Kafka writes them: `NAME://host:port` entries, comma-separated, the
 * name mapped to a security protocol by listener.security.protocol.map. An empty host
 * binds every interface; `[::1]` is an IPv6 host; port 0 asks the OS for a free port.
 */
import { ConfigError } from './types.ts';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type SecurityProtocolName = (typeof SECURITY_PROTOCOLS)[number];

export interface ListenerEndpoint {
  /** Listener name, upper-cased (PLAINTEXT, INTERNAL, ...). */
  name: string;
  securityProtocol: SecurityProtocolName;
  /** '' for every interface. IPv6 hosts without brackets. */
  host: string;
  port: number;
}

const ENTRY_RE = /^([A-Za-z0-9_-]+):\/\/(\[[0-9A-Fa-f:.]*\]|[^:/[\]]*):(\d+)$/;

/** Parses listener.security.protocol.map ("NAME:PROTOCOL,..."). */
export function parseProtocolMap(
  value: string,
  property = 'listener.security.protocol.map',
): Map<string, SecurityProtocolName> {
  const out = new Map<string, SecurityProtocolName>();
  for (const raw of value.split(',')) {
    const pair = raw.trim();
    if (pair === '') continue;
    const m = /^([A-Za-z0-9_-]+)\s*:\s*([A-Za-z_]+)$/.exec(pair);
    if (!m)
      throw new ConfigError(`invalid value "${value}" for "${property}": expected NAME:PROTOCOL pairs (got "${pair}")`);
    const protocol = m[2]!.toUpperCase();
    if (!(SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) {
      throw new ConfigError(
        `invalid value "${value}" for "${property}": unknown security protocol "${m[2]}" (expected one of ${SECURITY_PROTOCOLS.join(', ')})`,
      );
    }
    const name = m[1]!.toUpperCase();
    if (out.has(name))
      throw new ConfigError(`invalid value "${value}" for "${property}": listener name ${name} appears twice`);
    out.set(name, protocol as SecurityProtocolName);
  }
  return out;
}

/**
 * Parses a listener list against a protocol map. Names must be unique; so must ports
 * (except 0). advertised.listeners may not use a wildcard host.
 */
export function parseListeners(
  value: string,
  protocolMap: ReadonlyMap<string, SecurityProtocolName>,
  property = 'listeners',
): ListenerEndpoint[] {
  const out: ListenerEndpoint[] = [];
  const bad = (why: string): ConfigError => new ConfigError(`invalid value "${value}" for "${property}": ${why}`);
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = ENTRY_RE.exec(entry);
    if (!m) throw bad(`expected NAME://host:port (got "${entry}")`);
    const name = m[1]!.toUpperCase();
    const port = Number(m[3]);
    if (port > 65535) throw bad(`port ${port} is out of range`);
    const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
    const securityProtocol = protocolMap.get(name);
    if (securityProtocol === undefined) throw bad(`listener ${name} has no entry in listener.security.protocol.map`);
    if (out.some((l) => l.name === name)) throw bad(`listener name ${name} appears twice`);
    if (port !== 0 && out.some((l) => l.port === port && property === 'listeners'))
      throw bad(`port ${port} is used twice`);
    if (property === 'advertised.listeners' && (host === '0.0.0.0' || host === '::')) {
      throw bad(`cannot advertise the wildcard address ${host}`);
    }
    out.push({ name, securityProtocol, host, port });
  }
  if (out.length === 0) throw bad('expected at least one listener');
  return out;
}

/** host:port with IPv6 hosts bracketed. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
