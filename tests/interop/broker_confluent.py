"""confluent-kafka (librdkafka 2.16) against a kafka-rs broker: admin create,
describe configs, delete; idempotent and plain acks=all producers whose
records are consumed back exactly once and in order; ListOffsets by time.

Usage: broker_confluent.py BOOTSTRAP [RECORDS]
Consumers use assign(), so no group coordinator is needed."""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

BOOTSTRAP = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
TIMEOUT = 30


def create(admin, name, partitions=1, config=None):
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
    fs[name].result(timeout=TIMEOUT)


def check_admin(admin):
    create(admin, "cf-admin", 3, {"retention.ms": "3600000"})
    md = admin.list_topics(timeout=TIMEOUT)
    assert len(md.topics["cf-admin"].partitions) == 3, md.topics["cf-admin"].partitions
    res = ConfigResource(ConfigResource.Type.TOPIC, "cf-admin")
    cfg = admin.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert cfg["retention.ms"].value == "3600000" and not cfg["retention.ms"].is_default, cfg["retention.ms"]
    assert cfg["segment.bytes"].is_default, cfg["segment.bytes"]
    try:
        create(admin, "cf-admin")
        raise AssertionError("duplicate create succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, e
    admin.delete_topics(["cf-admin"])["cf-admin"].result(timeout=TIMEOUT)
    deadline = time.time() + TIMEOUT
    while "cf-admin" in admin.list_topics(timeout=TIMEOUT).topics:
        assert time.time() < deadline, "topic not deleted"
        time.sleep(0.05)
    print("admin ok")


def produce(topic, idempotent, n):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": idempotent, "linger.ms": 5})
    delivered, errors = [], []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append(msg.offset())

    for i in range(n):
        while True:
            try:
                p.produce(topic, value=b"%d" % i, key=b"k%d" % (i % 7), on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(TIMEOUT)
    assert remaining == 0, f"{remaining} records not delivered"
    assert not errors, errors[:5]
    assert len(delivered) == n, len(delivered)
    return sorted(delivered)


def consume(topic, n):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "cf-unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values, offsets = [], []
    deadline = time.time() + TIMEOUT
    while len(values) < n:
        assert time.time() < deadline, f"only {len(values)} of {n} consumed"
        for m in c.consume(num_messages=10_000, timeout=1):
            assert m.error() is None, m.error()
            values.append(int(m.value()))
            offsets.append(m.offset())
    # Nothing beyond the n records: exactly once.
    extra = c.consume(num_messages=10, timeout=0.5)
    assert not [m for m in extra if m.error() is None], "more records than produced"
    c.close()
    assert values == list(range(n)), "records out of order or duplicated"
    assert offsets == list(range(n)), "offsets not contiguous"


def check_times(admin):
    create(admin, "cf-times")
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "1"})
    base = 1_700_000_000_000
    for i in range(10):
        p.produce("cf-times", value=b"x", timestamp=base + 1000 * i)
        p.flush(TIMEOUT)  # one batch per record, so the time index sees each
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "cf-unused"})
    got = c.offsets_for_times([TopicPartition("cf-times", 0, base + 4500)], timeout=TIMEOUT)
    assert got[0].offset == 5, got
    got = c.offsets_for_times([TopicPartition("cf-times", 0, base + 99_999)], timeout=TIMEOUT)
    assert got[0].offset == -1, got  # no record that late: OFFSET_END
    low, high = c.get_watermark_offsets(TopicPartition("cf-times", 0), timeout=TIMEOUT)
    assert (low, high) == (0, 10), (low, high)
    c.close()
    print("list offsets ok")


def main():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    check_admin(admin)
    for idempotent in (True, False):
        topic = f"cf-acks-all-{'idem' if idempotent else 'plain'}"
        create(admin, topic)
        produce(topic, idempotent, N)
        consume(topic, N)
        print(f"{topic}: {N} records ok")
    check_times(admin)


if __name__ == "__main__":
    main()
