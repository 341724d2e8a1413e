"""kafka-python against a kafka-rs broker: a round trip with timestamps,
keys and headers, and the admin client (create, describe configs, delete).

Usage: broker_kafka_python.py BOOTSTRAP"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

BOOTSTRAP = sys.argv[1]


def main():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    admin.create_topics([NewTopic("kp-topic", num_partitions=2, replication_factor=1, topic_configs={"cleanup.policy": "compact"})])
    assert "kp-topic" in admin.list_topics()
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-topic")])
    text = repr(described)
    assert "cleanup.policy" in text and "compact" in text, text[:2000]

    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=1)
    base = 1_600_000_000_000
    for i in range(100):
        producer.send("kp-topic", key=b"k%d" % i, value=b"v%d" % i, partition=0, timestamp_ms=base + i,
                      headers=[("h", b"%d" % i), ("empty", b"")])
    producer.flush(30)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=10000)
    tp = TopicPartition("kp-topic", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    deadline = time.time() + 30
    while len(got) < 100 and time.time() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            got.extend(records)
    assert len(got) == 100, len(got)
    for i, r in enumerate(got):
        assert r.offset == i and r.key == b"k%d" % i and r.value == b"v%d" % i, r
        assert r.timestamp == base + i, r
        assert list(r.headers) == [("h", b"%d" % i), ("empty", b"")], r.headers
    end = consumer.end_offsets([tp])[tp]
    assert end == 100, end
    found = consumer.offsets_for_times({tp: base + 50})[tp]
    assert found.offset == 50 and found.timestamp == base + 50, found
    consumer.close()

    admin.delete_topics(["kp-topic"])
    deadline = time.time() + 30
    while "kp-topic" in admin.list_topics():
        assert time.time() < deadline, "not deleted"
        time.sleep(0.05)
    admin.close()
    print("kafka-python ok")


if __name__ == "__main__":
    main()
