import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaProtocolError, KafkaRequestTimeoutError, KafkaTimeoutError } from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { iterateBatches } from '../../src/protocol/records/index.ts';
import { FakeKafka } from './fake-broker.ts';
import { ManualClock, settled, tick, waitFor } from './helpers.ts';

void describe('producer against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(2);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('sends records and reports offsets in order', async () => {
    kafka.createTopic('p-basic', 1);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    const metas = await producer.send([
      { topic: 'p-basic', value: 'a' },
      { topic: 'p-basic', value: 'b', key: 'k' },
    ]);
    assert.deepEqual(
      metas.map((m) => [m.topic, m.partition, m.offset]),
      [
        ['p-basic', 0, 0],
        ['p-basic', 0, 1],
      ],
    );
    const one = await producer.send({ topic: 'p-basic', value: 'c', partition: 0 });
    assert.equal(one.offset, 2);
    assert.deepEqual(await kafka.values('p-basic', 0), ['a', 'b', 'c']);
    await producer.close();
  });
});
