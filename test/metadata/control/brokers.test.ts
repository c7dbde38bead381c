/**
 * Broker registration, heartbeats, fencing and controlled shutdown (KIP-631 rules).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fenceExpiredBrokers, registerBroker, unregisterBroker } from '../../../src/metadata/control/brokers.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { checkInvariants, SESSION_MS, settings, TestCluster } from './helpers.ts';

function ctx(c: TestCluster) {
  return { nextOffset: c.nextOffset, nowMs: c.nowMs, heartbeats: c.heartbeats, sessionTimeoutMs: SESSION_MS, settings };
}

void describe('broker registration', () => {
  void it('registers fenced with the record offset as epoch; unfences once caught up', () => {
    const c = new TestCluster();
    const at = c.nextOffset;
    const { records, response } = registerBroker(c.image, c.registrationRequest(1, 'r1'), ctx(c));
    assert.equal(response.errorCode, ErrorCode.NONE);
    assert.equal(response.brokerEpoch, BigInt(at));
    c.apply(records);
    const b = c.image.brokers.get(1)!;
    assert.equal(b.fenced, true);
    assert.equal(b.brokerEpoch, at);
    assert.equal(b.rack, 'r1');
    assert.equal(b.endpoints[0]!.port, 9001);

    // Not caught up to its own registration yet: stays fenced.
    const behind = c.heartbeat(1, { offset: at - 1 });
    assert.deepEqual(
      { isCaughtUp: behind.isCaughtUp, isFenced: behind.isFenced, shouldShutDown: behind.shouldShutDown },
      { isCaughtUp: false, isFenced: true, shouldShutDown: false },
    );
    assert.equal(c.image.brokers.get(1)!.fenced, true);
    // Caught up but asks to stay fenced.
    assert.equal(c.heartbeat(1, { offset: at, wantFence: true }).isFenced, true);
    const ok = c.heartbeat(1, { offset: at });
    assert.equal(ok.errorCode, ErrorCode.NONE);
    assert.equal(ok.isCaughtUp, true);
    assert.equal(ok.isFenced, false);
    assert.equal(c.image.brokers.get(1)!.fenced, false);
  });

  void it('refuses another incarnation while the old one has a session; accepts it after expiry', () => {
    const c = new TestCluster();
    c.addBroker(1);
    const other = c.registrationRequest(1, null, 1);
    assert.equal(registerBroker(c.image, other, ctx(c)).response.errorCode, ErrorCode.DUPLICATE_BROKER_REGISTRATION);
    // The same incarnation again (a retried registration) is fine.
    assert.equal(registerBroker(c.image, c.registrationRequest(1), ctx(c)).response.errorCode, ErrorCode.NONE);
    c.nowMs += SESSION_MS;
    const later = registerBroker(c.image, other, ctx(c));
    assert.equal(later.response.errorCode, ErrorCode.NONE);
    // A fenced registration has no session: a restarted broker registers at once.
    c.nowMs -= SESSION_MS;
    c.heartbeat(1, { wantFence: true });
    assert.equal(registerBroker(c.image, other, ctx(c)).response.errorCode, ErrorCode.NONE);
  });

  void it('refuses unsupported finalized features and another cluster id', () => {
    const c = new TestCluster();
    const old = {
      ...c.registrationRequest(1),
      features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: 7 }],
    };
    assert.equal(registerBroker(c.image, old, ctx(c)).response.errorCode, ErrorCode.UNSUPPORTED_VERSION);
    const none = { ...c.registrationRequest(1), features: [] };
    assert.equal(registerBroker(c.image, none, ctx(c)).response.errorCode, ErrorCode.UNSUPPORTED_VERSION);
    const wrong = { ...c.registrationRequest(1), clusterId: 'AAAAAAAAAAAAAAAAAAAAAA' };
    assert.equal(registerBroker(c.image, wrong, ctx(c)).response.errorCode, ErrorCode.INCONSISTENT_CLUSTER_ID);
  });

  void it('a re-registration takes the old incarnation out of leaderships and ISRs', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    c.addTopic('t', [[1, 2]]);
    c.nowMs += SESSION_MS;
    const { records, response } = registerBroker(c.image, c.registrationRequest(1, null, 1), ctx(c));
    assert.equal(response.errorCode, ErrorCode.NONE);
    c.apply(records);
    const p = c.partition('t');
    assert.equal(p.leader, 2);
    assert.deepEqual(p.isr, [2]);
    assert.equal(checkInvariants(c.image), undefined);
  });
});

void describe('broker heartbeats', () => {
  void it('answers STALE_BROKER_EPOCH to a wrong epoch or an unknown broker', () => {
    const c = new TestCluster();
    c.addBroker(1);
    const r = c.heartbeat(1, {});
    assert.equal(r.errorCode, ErrorCode.NONE);
    const stale = c.heartbeat(9, {});
    assert.equal(stale.errorCode, ErrorCode.STALE_BROKER_EPOCH);
  });

  void it('wantFence fences a live broker and moves its leaderships', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    c.addTopic('t', [[1, 2]]);
    const r = c.heartbeat(1, { wantFence: true });
    assert.equal(r.isFenced, true);
    assert.equal(c.image.brokers.get(1)!.fenced, true);
    assert.equal(c.partition('t').leader, 2);
    assert.deepEqual(c.partition('t').isr, [2]);
  });

  void it('controlled shutdown: leaderships move, ISRs shrink, then shouldShutDown once the others caught up', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3]) c.addBroker(id);
    c.addTopic('t', [
      [1, 2],
      [2, 1],
      [1, 3],
    ]);
    c.addTopic('solo', [[1]]);
    const before = c.partition('t', 0).leaderEpoch;
    const r = c.heartbeat(1, { wantShutDown: true });
    assert.deepEqual([r.isFenced, r.shouldShutDown], [false, false]);
    assert.equal(c.image.brokers.get(1)!.inControlledShutdown, true);
    assert.equal(c.partition('t', 0).leader, 2);
    assert.equal(c.partition('t', 0).leaderEpoch, before + 1);
    assert.deepEqual(c.partition('t', 1).isr, [2]);
    assert.equal(c.partition('t', 2).leader, 3);
    // Its only replica: no other leader exists, so it is leaderless but keeps its ISR.
    assert.equal(c.partition('solo').leader, -1);
    assert.deepEqual(c.partition('solo').isr, [1]);
    assert.equal(checkInvariants(c.image), undefined);
    // It leads nothing now, but brokers 2 and 3 have not reported the new leaderships yet.
    const offset = c.image.offset;
    assert.equal(c.heartbeat(1, { wantShutDown: true }).shouldShutDown, false);
    assert.equal(c.image.offset, offset);
    c.heartbeat(2, {});
    assert.equal(c.heartbeat(1, { wantShutDown: true }).shouldShutDown, false);
    c.heartbeat(3, {});
    const done = c.heartbeat(1, { wantShutDown: true });
    assert.deepEqual([done.isFenced, done.shouldShutDown], [true, true]);
    assert.equal(c.image.brokers.get(1)!.fenced, true);
    assert.equal(checkInvariants(c.image), undefined);
    // Done: it stays fenced (and is told to stop) until it registers again.
    const again = c.heartbeat(1, {});
    assert.deepEqual([again.isFenced, again.shouldShutDown], [true, true]);
    assert.equal(c.image.brokers.get(1)!.fenced, true);
    c.addBroker(1, null, 1);
    assert.equal(c.image.brokers.get(1)!.inControlledShutdown, false);
    assert.equal(c.partition('solo').leader, 1);
  });

  void it('a broker leading nothing shuts down at once (fenced); wantFence with wantShutDown too', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    c.addTopic('t', [[1, 2]]);
    const r = c.heartbeat(2, { wantShutDown: true });
    assert.deepEqual([r.isFenced, r.shouldShutDown], [true, true]);
    assert.deepEqual(c.partition('t').isr, [1]);
    const both = c.heartbeat(1, { wantShutDown: true, wantFence: true });
    assert.deepEqual([both.isFenced, both.shouldShutDown], [true, true]);
    assert.equal(c.partition('t').leader, -1);
  });

  void it('a fenced broker asking to shut down may stop at once', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.heartbeat(1, { wantFence: true });
    assert.equal(c.heartbeat(1, { wantShutDown: true }).shouldShutDown, true);
  });
});

void describe('unregistration', () => {
  void it('moves leaderships away, then removes the registration', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    c.addTopic('t', [[1, 2]]);
    assert.equal(unregisterBroker(c.image, 9, c.heartbeats, settings).response, ErrorCode.BROKER_ID_NOT_REGISTERED);
    const { records, response } = unregisterBroker(c.image, 1, c.heartbeats, settings);
    assert.equal(response, ErrorCode.NONE);
    c.apply(records);
    assert.equal(c.image.brokers.has(1), false);
    assert.equal(c.partition('t').leader, 2);
    assert.deepEqual(c.partition('t').isr, [2]);
    assert.deepEqual(c.heartbeats.brokers(), [2]);
  });
});

void describe('session expiry', () => {
  void it('fences brokers silent for broker.session.timeout.ms and re-elects on unfence', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3]) c.addBroker(id);
    c.addTopic('t', [
      [1, 2, 3],
      [2, 3, 1],
    ]);
    c.addTopic('solo', [[2]]);
    c.nowMs += SESSION_MS - 1;
    c.heartbeat(1, {});
    c.heartbeat(3, {});
    assert.deepEqual(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs, SESSION_MS, settings), []);
    c.nowMs += 1;
    c.apply(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs, SESSION_MS, settings));
    assert.equal(c.image.brokers.get(2)!.fenced, true);
    assert.equal(c.image.brokers.get(1)!.fenced, false);
    assert.equal(c.partition('t', 1).leader, 3);
    assert.deepEqual(c.partition('t', 1).isr, [3, 1]);
    assert.deepEqual(c.partition('t', 0).isr, [1, 3]);
    assert.equal(c.partition('solo').leader, -1);
    assert.deepEqual(c.partition('solo').isr, [2]);
    assert.equal(checkInvariants(c.image), undefined);

    // Broker 2 comes back: unfenced, it leads its leaderless partition again (clean: it is the ISR).
    const r = c.heartbeat(2, {});
    assert.equal(r.isFenced, false);
    assert.equal(c.partition('solo').leader, 2);
    assert.equal(c.partition('solo').leaderRecoveryState, 0);
  });

  void it('fences several expired brokers at once without handing leadership between them', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3]) c.addBroker(id);
    c.addTopic('t', [[1, 2, 3]]);
    c.nowMs += SESSION_MS;
    c.heartbeat(3, {});
    c.apply(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs, SESSION_MS, settings));
    assert.equal(c.partition('t').leader, 3);
    assert.deepEqual(c.partition('t').isr, [3]);
  });

  void it('a new controller gives every broker a full session (activate)', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.nowMs += SESSION_MS * 10;
    c.heartbeats.activate(c.image, c.nowMs);
    assert.deepEqual(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs + SESSION_MS - 1, SESSION_MS, settings), []);
    assert.equal(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs + SESSION_MS, SESSION_MS, settings).length, 1);
  });

  void it('unclean.leader.election.enable lets a live out-of-sync replica lead, RECOVERING', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    c.addTopic('t', [[1, 2]]);
    // 2 falls out of the ISR, then 1 dies.
    c.apply([
      {
        typeId: 5,
        version: 0,
        record: {
          partitionId: 0,
          topicId: c.image.topicsByName.get('t')!.topicId,
          isr: [1],
          leader: -2,
          replicas: null,
          removingReplicas: null,
          addingReplicas: null,
          leaderRecoveryState: -1,
          directories: null,
          eligibleLeaderReplicas: null,
          lastKnownElr: null,
        },
      },
    ]);
    c.setTopicConfig('t', 'unclean.leader.election.enable', 'true');
    c.heartbeat(1, { wantFence: true });
    const p = c.partition('t');
    assert.equal(p.leader, 2);
    assert.deepEqual(p.isr, [2]);
    assert.equal(p.leaderRecoveryState, 1);
  });
});
