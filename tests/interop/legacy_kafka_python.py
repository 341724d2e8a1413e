"""kafka-python speaking the protocol versions of old brokers to kafka-rs:
for each api_version given, a producer (gzip) writes keyed records, a
consumer reads them back, and the group's commit is read back; api_version
(0, 8, 2) assigns partitions by hand (no group membership before 0.9) and
commits through the coordinator, as 0.8.2 did.

Usage: legacy_kafka_python.py BOOTSTRAP TOPIC_PREFIX"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

BOOTSTRAP = sys.argv[1]
PREFIX = sys.argv[2]
VERSIONS = [(0, 8, 2), (0, 9), (0, 10)]
N = 50


def run(version):
    tag = "_".join(str(v) for v in version)
    topic = "%s-%s" % (PREFIX, tag)
    group = "legacy-group-%s" % tag
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, api_version=version, acks=1,
                             compression_type="gzip", linger_ms=5)
    for i in range(N):
        producer.send(topic, key=b"k%d" % i, value=b"%s v%d" % (tag.encode(), i), partition=0)
    producer.flush(30)
    producer.close()

    tp = TopicPartition(topic, 0)
    if version < (0, 9):
        consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, api_version=version, group_id=group,
                                 enable_auto_commit=False, consumer_timeout_ms=15000,
                                 auto_offset_reset="earliest")
        consumer.assign([tp])
    else:
        consumer = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, api_version=version, group_id=group,
                                 enable_auto_commit=False, consumer_timeout_ms=15000,
                                 auto_offset_reset="earliest")
    got = []
    for m in consumer:
        got.append((m.offset, m.key, m.value))
        if len(got) == N:
            break
    want = [(i, b"k%d" % i, b"%s v%d" % (tag.encode(), i)) for i in range(N)]
    assert got == want, (version, got[:5], len(got))
    if version < (0, 9):
        consumer.commit({tp: OffsetAndMetadata(N, "", -1)})
    else:
        consumer.commit()
    committed = consumer.committed(tp)
    assert committed == N, (version, committed)
    consumer.close()
    print("api_version %s: %d records, committed %d" % (version, len(got), committed))


def main():
    for v in VERSIONS:
        run(v)
    print("OK")


if __name__ == "__main__":
    main()
