/** Reads a whole topic with kafka-python (/usr/bin/python3), without a group (assign). */
import { python } from './kcat.ts';

export interface PyRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp: number;
  timestampType: number;
}

const SCRIPT = `
import sys, json
from kafka import KafkaConsumer, TopicPartition
bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset='earliest',
                  consumer_timeout_ms=15000, api_version_auto_timeout_ms=10000)
parts = c.partitions_for_topic(topic)
c.assign([TopicPartition(topic, p) for p in sorted(parts)])
c.seek_to_beginning()
n = 0
def h(b):
    return None if b is None else b.hex()
for m in c:
    print(json.dumps({'partition': m.partition, 'offset': m.offset, 'key': h(m.key), 'value': h(m.value),
                      'headers': [[k, h(v)] for k, v in (m.headers or [])],
                      'timestamp': m.timestamp, 'timestampType': m.timestamp_type}), flush=True)
    n += 1
    if n >= expected:
        break
c.close()
`;

const fromHex = (s: string | null): string | null => (s === null ? null : Buffer.from(s, 'hex').toString());

export async function pythonConsume(bootstrap: string, topic: string, expected: number): Promise<PyRecord[]> {
  const out = await python(SCRIPT, [bootstrap, topic, String(expected)]);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const r = JSON.parse(l) as PyRecord;
      return {
        ...r,
        key: fromHex(r.key),
        value: fromHex(r.value),
        headers: r.headers.map(([k, v]) => [k, fromHex(v)]),
      };
    });
}
