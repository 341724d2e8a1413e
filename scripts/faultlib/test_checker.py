"""The checker must flag each kind of violation it promises to find, and
nothing in a clean history. Run: python -m unittest scripts/faultlib/test_checker.py
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faultlib.checker import check, missing_findings  # noqa: E402
from faultlib.inflight import overlaps  # noqa: E402
from faultlib.replicas import compare_replicas  # noqa: E402


def producer(pid, idempotent):
    return {"type": "producer", "producer": pid, "idempotent": idempotent, "t": 0.0}


def sent_and_acked(pid, seq, offset, t, partition=0):
    value = f"{pid}-{seq}"
    return [
        {"type": "send", "producer": pid, "value": value, "seq": seq, "t": t},
        {"type": "ack", "producer": pid, "value": value, "seq": seq, "topic": "t",
         "partition": partition, "offset": offset, "t": t + 0.01},
    ]


def final(offset, value, partition=0):
    return {"type": "final", "topic": "t", "partition": partition, "offset": offset,
            "value": value, "t": 100.0}


def clean(pid="p0", idempotent=True, n=4):
    h = [producer(pid, idempotent), {"type": "workload_start", "t": 0.0}]
    for seq in range(n):
        h += sent_and_acked(pid, seq, seq, 0.1 * (seq + 1))
    h.append({"type": "workload_stop", "t": 0.5})
    h += [final(seq, f"{pid}-{seq}") for seq in range(n)]
    return h


def kinds(result):
    return [v["kind"] for v in result["violations"]]


class CheckerTest(unittest.TestCase):
    def test_clean_history_has_no_violation(self):
        r = check(clean())
        self.assertEqual(kinds(r), [])
        self.assertEqual(r["stats"]["acknowledged"], 4)

    def test_lost_record_is_flagged_with_its_ack(self):
        h = [e for e in clean() if not (e["type"] == "final" and e["offset"] == 2)]
        r = check(h)
        self.assertIn("lost", kinds(r))
        self.assertEqual(r["stats"]["lost"], 1)
        lost = next(v for v in r["violations"] if v["kind"] == "lost")
        self.assertTrue(any(e["type"] == "ack" and e["value"] == "p0-2" for e in lost["excerpt"]))

    def test_acks1_loss_is_allowed_only_on_a_replicated_cluster(self):
        h = [e for e in clean(idempotent=False) if not (e["type"] == "final" and e["offset"] == 2)]
        h[0]["acks"] = "1"
        self.assertIn("lost", kinds(check(h)), "one broker: an acks=1 ack must survive")
        r = check(h, replicated=True)
        self.assertEqual(kinds(r), [])
        self.assertEqual(r["stats"]["lost_acks1"], 1)
        h[0]["acks"] = "all"
        self.assertIn("lost", kinds(check(h, replicated=True)), "acks=all is never excused")

    def test_ack_without_offset_is_still_checked_for_loss(self):
        h = clean()
        for e in h:
            if e["type"] == "ack":
                e["offset"] = None
        self.assertEqual(kinds(check(h)), [])
        h = [e for e in h if not (e["type"] == "final" and e["offset"] == 2)]
        self.assertIn("lost", kinds(check(h)))

    def test_duplicate_from_idempotent_producer_is_flagged(self):
        r = check(clean() + [final(4, "p0-1")])
        self.assertIn("duplicated", kinds(r))

    def test_duplicate_without_idempotence_is_counted_not_flagged(self):
        r = check(clean(idempotent=False) + [final(4, "p0-1")])
        self.assertEqual(kinds(r), [])
        self.assertEqual(r["stats"]["duplicated"], 1)

    def test_reordered_records_are_flagged(self):
        h = [producer("p0", True), {"type": "workload_start", "t": 0.0}]
        h += sent_and_acked("p0", 0, 1, 0.1) + sent_and_acked("p0", 1, 0, 0.2)
        h += [{"type": "workload_stop", "t": 0.3}, final(0, "p0-1"), final(1, "p0-0")]
        r = check(h)
        self.assertIn("reordered", kinds(r))
        self.assertEqual(r["stats"]["reordered"], 1)

    def reordered(self, **producer_fields):
        """p0's sequence 1 written before its sequence 0, by a producer
        configured as `producer_fields` say."""
        h = [dict(producer("p0", False), **producer_fields),
             {"type": "workload_start", "t": 0.0}]
        h += sent_and_acked("p0", 0, 1, 0.1) + sent_and_acked("p0", 1, 0, 0.2)
        h += [{"type": "workload_stop", "t": 0.3}, final(0, "p0-1"), final(1, "p0-0")]
        return check(h, replicated=True)

    def test_reordering_is_flagged_wherever_the_configuration_promises_order(self):
        promising = [
            dict(client="confluent", idempotent=True, max_in_flight=5),
            dict(client="kafka-python", idempotent=True, max_in_flight=5),
            # Java and kafka-python mute a partition while a batch of it is
            # in flight to any broker.
            dict(client="java", idempotent=False, max_in_flight=1),
            dict(client="kafka-python", idempotent=False, max_in_flight=1),
            # A history that does not say how its producer was configured.
            dict(),
        ]
        for fields in promising:
            r = self.reordered(**fields)
            self.assertEqual(kinds(r), ["reordered"], fields)
            self.assertEqual(r["stats"]["reordered"], 1, fields)
            self.assertNotIn("reordered_unpromised", r["stats"], fields)

    def test_reordering_without_an_order_promise_is_counted_not_flagged(self):
        # librdkafka limits in-flight requests per connection, so across a
        # leader move a retry to the old leader can land after the next
        # batch sent to the new one; more than one in flight reorders in
        # every client.
        for fields in (dict(client="confluent", idempotent=False, max_in_flight=1),
                       dict(client="java", idempotent=False, max_in_flight=5)):
            r = self.reordered(acks="1", **fields)
            self.assertEqual(kinds(r), [], fields)
            self.assertEqual(r["stats"]["reordered_unpromised"], 1, fields)
            self.assertNotIn("reordered", r["stats"], fields)
            note = r["notes"][0]
            self.assertEqual(note["kind"], "reordered-unpromised")
            self.assertEqual([e["seq"] for e in note["excerpt"]], [0, 1], "both acks shown")

    def test_committed_offset_going_backwards_is_flagged(self):
        commits = [{"type": "commit", "group": "g", "topic": "t", "partition": 0,
                    "offset": o, "t": t} for o, t in ((2, 1.0), (4, 2.0), (3, 3.0))]
        r = check(clean() + commits)
        self.assertEqual(kinds(r), ["commit-backwards"])
        self.assertEqual([e["offset"] for e in r["violations"][0]["excerpt"]], [4, 3])

    def test_a_commit_in_flight_while_an_observation_answered_is_not_ordered(self):
        ops = [{"type": "committed", "group": "g", "topic": "t", "partition": 0, "offset": 4,
                "start": 1.0, "t": 1.2},
               {"type": "commit", "group": "g", "topic": "t", "partition": 0, "offset": 3,
                "start": 1.1, "t": 1.3}]
        self.assertEqual(kinds(check(clean() + ops)), [])
        ops[1]["start"] = 1.25
        self.assertEqual(kinds(check(clean() + ops)), ["commit-backwards"])

    def test_read_of_a_record_that_vanished_is_flagged(self):
        read = {"type": "read", "consumer": "c0", "topic": "t", "partition": 0, "offset": 9,
                "value": "p0-9", "t": 0.3}
        self.assertIn("vanished-read", kinds(check(clean() + [read])))

    def test_acked_offset_holding_another_value_is_flagged(self):
        h = clean()
        for e in h:
            if e["type"] == "final" and e["offset"] in (1, 2):
                e["value"] = {1: "p0-2", 2: "p0-1"}[e["offset"]]
        self.assertIn("acked-offset", kinds(check(h)))

    def test_torn_tail_excuses_only_what_it_destroyed(self):
        tear = {"type": "fault", "kind": "torn-tail", "topic": "t", "partition": 0,
                "from_offset": 2, "t": 0.2, "end": 0.45}
        h = [e for e in clean() if not (e["type"] == "final" and e["offset"] >= 2)]
        r = check(h + [tear])
        self.assertEqual(kinds(r), [])
        self.assertEqual(r["stats"]["destroyed_by_tear"], 2)
        h = [e for e in clean() if not (e["type"] == "final" and e["offset"] in (1, 2))]
        self.assertIn("lost", kinds(check(h + [tear])))

    def test_lost_zookeeper_write_is_flagged(self):
        h = [{"type": "zk_ack", "path": "/f/a", "value": "1", "t": 1.0},
             {"type": "zk_ack", "path": "/f/b", "value": "2", "t": 1.1},
             {"type": "zk_final", "path": "/f/a", "value": "1", "t": 9.0}]
        r = check(h)
        self.assertEqual(kinds(r), ["zk-lost"])

    def test_replica_mismatch_is_flagged(self):
        h = clean() + [{"type": "replica_mismatch", "message": "t-0 differs", "t": 9.0}]
        self.assertEqual(kinds(check(h)), ["replicas-differ"])

    def test_an_expected_loss_that_was_not_found_is_missing(self):
        self.assertEqual(missing_findings(check(clean()), ["lost"]), ["lost"])
        h = [e for e in clean() if not (e["type"] == "final" and e["offset"] == 2)]
        self.assertEqual(missing_findings(check(h), ["lost"]), [])

    def test_gap_without_acks_is_an_unavailability_window(self):
        h = clean()
        for e in h:
            if e["type"] == "workload_stop":
                e["t"] = 3.0
        r = check(h)
        self.assertEqual(r["stats"]["unavailable_windows"], 1)
        self.assertAlmostEqual(r["stats"]["longest_unavailable_s"], 2.59, places=2)
        self.assertEqual(r["windows"][0][0], "t-0 acks=?")


# librdkafka's own log (shortened) of the two ways a producer without
# idempotence reorders its records with one request in flight. A leader
# move (leader-kill): partition 0's 160 records are in flight at broker 0
# when the metadata names broker 1, and the next 41 go to broker 1 before
# broker 0 answers; here broker 1 takes them and broker 0 refuses.
LEADER_MOVE_LOG = """\
%7|1.231|PRODUCE|plain-all#producer-2| [thrd:h:1/0]: h:1/0: faults [0]: Produce MessageSet with 160 message(s) (3674 bytes, MsgId 0)
%7|1.237|SEND|plain-all#producer-2| [thrd:h:1/0]: h:1/0: Sent ProduceRequest (v10, 3723 bytes @ 0, CorrId 87)
%7|1.237|BRKMIGR|plain-all#producer-2| [thrd:main]: Migrating topic faults [0] from h:1/0 to h:2/1
%7|1.237|PRODUCE|plain-all#producer-2| [thrd:h:2/1]: h:2/1: faults [0]: Produce MessageSet with 41 message(s) (958 bytes, MsgId 0)
%7|1.237|SEND|plain-all#producer-2| [thrd:h:2/1]: h:2/1: Sent ProduceRequest (v10, 1007 bytes @ 0, CorrId 8)
%7|1.238|RECV|plain-all#producer-2| [thrd:h:1/0]: h:1/0: Received ProduceResponse (v10, 83 bytes, CorrId 87, rtt 1.21ms)
%7|1.238|MSGSET|plain-all#producer-2| [thrd:h:1/0]: h:1/0: faults [0]: MessageSet with 160 message(s) (MsgId 0, BaseSeq -1) encountered error: Broker: Not leader for partition
%7|1.249|RECV|plain-all#producer-2| [thrd:h:2/1]: h:2/1: Received ProduceResponse (v10, 49 bytes, CorrId 8, rtt 12.23ms)
%7|1.249|MSGSET|plain-all#producer-2| [thrd:h:2/1]: h:2/1: faults [0]: MessageSet with 41 message(s) (MsgId 0, BaseSeq -1) delivered
%7|1.260|PRODUCE|plain-all#producer-2| [thrd:h:2/1]: h:2/1: faults [0]: Produce MessageSet with 160 message(s) (3674 bytes, MsgId 0)
%7|1.260|SEND|plain-all#producer-2| [thrd:h:2/1]: h:2/1: Sent ProduceRequest (v10, 3723 bytes @ 0, CorrId 9)
%7|1.262|RECV|plain-all#producer-2| [thrd:h:2/1]: h:2/1: Received ProduceResponse (v10, 49 bytes, CorrId 9, rtt 2.01ms)
%7|1.262|MSGSET|plain-all#producer-2| [thrd:h:2/1]: h:2/1: faults [0]: MessageSet with 160 message(s) (MsgId 0, BaseSeq -1) delivered
"""

# One connection (rolling-restart): 8 records of partition 2 are in flight
# when the next record's request is built; the 8 are refused
# (NOT_ENOUGH_REPLICAS, the ISR was growing back), the request already
# built goes next and is written, and the 8 follow in a later one.
BUILT_BEHIND_LOG = """\
%7|8.531|PRODUCE|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: Produce MessageSet with 8 message(s) (234 bytes, MsgId 0)
%7|8.562|SEND|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Sent ProduceRequest (v10, 283 bytes @ 0, CorrId 8)
%7|8.562|PRODUCE|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: Produce MessageSet with 1 message(s) (82 bytes, MsgId 0)
%7|8.589|RECV|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Received ProduceResponse (v10, 157 bytes, CorrId 8, rtt 27.33ms)
%7|8.589|MSGSET|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: MessageSet with 8 message(s) (MsgId 0, BaseSeq -1) encountered error: Broker: Not enough in-sync replicas (actions Retry,MsgNotPersisted)
%7|8.589|SEND|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Sent ProduceRequest (v10, 130 bytes @ 0, CorrId 9)
%7|8.607|RECV|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Received ProduceResponse (v10, 49 bytes, CorrId 9, rtt 17.93ms)
%7|8.607|MSGSET|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: MessageSet with 1 message(s) (MsgId 0, BaseSeq -1) delivered
%7|8.812|PRODUCE|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: Produce MessageSet with 16 message(s) (410 bytes, MsgId 0)
%7|8.812|SEND|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Sent ProduceRequest (v10, 459 bytes @ 0, CorrId 20)
%7|8.813|RECV|plain-all#producer-6| [thrd:h:1/1]: h:1/1: Received ProduceResponse (v10, 49 bytes, CorrId 20, rtt 0.94ms)
%7|8.813|MSGSET|plain-all#producer-6| [thrd:h:1/1]: h:1/1: faults [2]: MessageSet with 16 message(s) (MsgId 0, BaseSeq -1) delivered
"""


class InflightTest(unittest.TestCase):
    """faultlib.inflight finds, in librdkafka's debug log, the request that
    overtook an earlier one of its partition behind an unpromised
    reordering."""

    def test_a_request_written_while_another_was_in_flight_elsewhere_is_found(self):
        found = list(overlaps(LEADER_MOVE_LOG.splitlines()))
        self.assertEqual(len(found), 1, "the retry, sent after both answers, overtook nothing")
        o = found[0]
        self.assertEqual((o["kind"], o["producer"], o["topic"], o["partition"]),
                         ("other broker", "plain-all", "faults", 0))
        self.assertEqual((o["sent_to"], o["records"]), ("h:2/1", 41))
        self.assertEqual(o["earlier"], [{"broker": "h:1/0", "since": 1.237, "records": 160}])

    def test_a_request_built_behind_one_that_failed_is_found(self):
        found = list(overlaps(BUILT_BEHIND_LOG.splitlines()))
        self.assertEqual([(o["kind"], o["sent_to"], o["records"]) for o in found],
                         [("built behind", "h:1/1", 1)])
        self.assertEqual(found[0]["earlier"], [{"broker": "h:1/1", "since": 8.562, "records": 8}])

    def test_nothing_overtakes_when_the_later_request_is_refused_too(self):
        refused = LEADER_MOVE_LOG.replace("(MsgId 0, BaseSeq -1) delivered\n%7|1.260",
                                          "(MsgId 0, BaseSeq -1) encountered error: x\n%7|1.260")
        self.assertEqual(list(overlaps(refused.splitlines())), [])

    def test_a_request_failed_by_a_closed_connection_is_no_longer_in_flight(self):
        lines = LEADER_MOVE_LOG.splitlines()
        lines.insert(2, "%7|1.237|STATE|plain-all#producer-2| [thrd:h:1/0]: h:1/0: "
                        "Broker changed state UP -> DOWN")
        self.assertEqual([o["kind"] for o in overlaps(lines)], [],
                         "the 41 were built after the 160 failed: they come after them")


def record_batch(base, values, leader_epoch=0):
    """A RecordBatch v2 as a broker stores it: the 61-byte header (base
    offset, length, leader epoch, magic 2, CRC, attributes, last offset
    delta, timestamps, producer id/epoch, base sequence, count), then the
    records; the comparison reads only the framing, so the records here
    are opaque bytes."""
    body = b"".join(len(v).to_bytes(4, "big") + v for v in values)
    after_length = (leader_epoch.to_bytes(4, "big", signed=True) + b"\x02" + b"\0" * 4
                    + b"\0\0" + (len(values) - 1).to_bytes(4, "big") + b"\0" * 16
                    + (-1).to_bytes(8, "big", signed=True) + b"\xff\xff" + b"\xff" * 4
                    + len(values).to_bytes(4, "big") + body)
    return base.to_bytes(8, "big") + len(after_length).to_bytes(4, "big") + after_length


class ReplicaComparisonTest(unittest.TestCase):
    """The comparison the harness runs after convergence, on log dirs laid
    out as a broker lays them out (topic-partition/00..0.log)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dirs = {i: os.path.join(self.tmp.name, f"b{i}") for i in range(3)}
        # Ten batches of three records: offsets 0..29.
        self.batches = [record_batch(3 * n, [f"v{3 * n + k}".encode() for k in range(3)])
                        for n in range(10)]
        for d in self.dirs.values():
            self.write(d, self.batches)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, d, batches, name="00000000000000000000.log"):
        os.makedirs(os.path.join(d, "t-0"), exist_ok=True)
        with open(os.path.join(d, "t-0", name), "wb") as f:
            f.write(b"".join(batches))

    def test_identical_replicas_pass_and_every_batch_is_compared(self):
        found, compared = compare_replicas(self.dirs, {0: 30}, "t")
        self.assertEqual(found, [])
        self.assertEqual(compared["batches"], 2 * 10, "each follower against the first")
        self.assertEqual(compared["bytes"], 2 * sum(map(len, self.batches)))

    def test_one_flipped_byte_below_the_high_watermark_is_a_mismatch(self):
        bad = list(self.batches)
        raw = bytearray(bad[4])
        raw[-1] ^= 0x01
        bad[4] = bytes(raw)
        self.write(self.dirs[2], bad)
        found, _ = compare_replicas(self.dirs, {0: 30}, "t")
        self.assertEqual(len(found), 1)
        self.assertIn("batch #4", found[0]["message"])
        self.assertIn("broker 0 and 2", found[0]["message"])
        self.assertEqual(kinds(check(clean() + found)), ["replicas-differ"])

    def test_above_the_high_watermark_replicas_may_differ(self):
        bad = list(self.batches)
        bad[9] = record_batch(27, [b"other", b"records", b"here"])
        self.write(self.dirs[1], bad)
        self.assertEqual(compare_replicas(self.dirs, {0: 27}, "t")[0], [])
        self.assertEqual(len(compare_replicas(self.dirs, {0: 30}, "t")[0]), 1)

    def test_a_replica_missing_batches_below_the_high_watermark_is_a_mismatch(self):
        self.write(self.dirs[1], self.batches[:8])
        found, _ = compare_replicas(self.dirs, {0: 30}, "t")
        self.assertEqual(len(found), 1)
        self.assertIn("broker 0 has 10 batches, broker 1 8", found[0]["message"])

    def test_a_batch_from_another_leader_epoch_is_a_mismatch(self):
        # Same records, but written under another leadership: the logs
        # diverged even though a consumer would read the same values.
        bad = list(self.batches)
        bad[7] = record_batch(21, [f"v{21 + k}".encode() for k in range(3)], leader_epoch=1)
        self.write(self.dirs[0], bad)
        found, _ = compare_replicas(self.dirs, {0: 30}, "t")
        self.assertEqual(len(found), 2, "both followers differ from broker 0")

    def test_segments_are_compared_across_rolls(self):
        # A replica may roll at other offsets; the batch sequence counts.
        self.write(self.dirs[1], self.batches[:5])
        self.write(self.dirs[1], self.batches[5:], name="00000000000000000015.log")
        found, compared = compare_replicas(self.dirs, {0: 30}, "t")
        self.assertEqual(found, [])
        self.assertEqual(compared["batches"], 20)


if __name__ == "__main__":
    unittest.main()
