"""kafka-python (3.0) transactions against kafka-rs.

Usage: transactions_kafka_python.py write BOOTSTRAP TOPIC
         creates TOPIC (two partitions, small segments so transactions span
         segment rolls) and runs six rounds of a committed transaction of
         ten records over both partitions, each with consumer offsets sent
         to the transaction, and an aborted one of five records
       transactions_kafka_python.py read BOOTSTRAP TOPIC LEVEL
         reads TOPIC from the beginning with isolation_level LEVEL and
         prints "VALUES <n> ABORTED <k> ORDERED <yes|no>" and the group's
         committed offset as "COMMITTED <offset>"
Prints "<command> ok" at the end."""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

COMMAND, BOOTSTRAP, TOPIC = sys.argv[1], sys.argv[2], sys.argv[3]
GROUP = TOPIC + "-group"
ROUNDS = 6
TIMEOUT = 60


def write():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT * 1000)
    admin.create_topics([NewTopic(TOPIC, 2, 1, topic_configs={"segment.bytes": "1024"})],
                        timeout_ms=TIMEOUT * 1000)
    admin.close()
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=TOPIC + "-tx",
                      request_timeout_ms=TIMEOUT * 1000)
    p.init_transactions()
    for r in range(ROUNDS):
        p.begin_transaction()
        for i in range(10):
            p.send(TOPIC, value=b"c-%d-%d" % (r, i), partition=i % 2)
        offsets = {TopicPartition(TOPIC, 0): OffsetAndMetadata(r + 1, "", -1)}
        p.send_offsets_to_transaction(offsets, GROUP)
        p.commit_transaction()
        p.begin_transaction()
        for i in range(5):
            p.send(TOPIC, value=b"ab-%d-%d" % (r, i), partition=i % 2)
        p.flush()
        p.abort_transaction()
    p.close()


def read(level):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, isolation_level=level,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      group_id=GROUP, consumer_timeout_ms=5000)
    parts = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    want = ROUNDS * 10 if level == "read_committed" else ROUNDS * 15
    values = {0: [], 1: []}
    deadline = time.time() + TIMEOUT
    while sum(len(v) for v in values.values()) < want and time.time() < deadline:
        for tp, records in c.poll(timeout_ms=1000).items():
            values[tp.partition].extend(r.value.decode() for r in records)
    # Each partition holds its records in the order they were sent.
    def order(v):
        return [tuple(int(x) for x in s.split("-")[1:]) for s in v if s.startswith("c-")]
    ordered = all(order(v) == sorted(order(v)) for v in values.values())
    everything = values[0] + values[1]
    aborted = sum(1 for v in everything if v.startswith("ab-"))
    print("VALUES %d ABORTED %d ORDERED %s" % (len(everything), aborted, "yes" if ordered else "no"))
    committed = c.committed(TopicPartition(TOPIC, 0))
    print("COMMITTED %s" % committed)
    c.close()


if COMMAND == "write":
    write()
else:
    read(sys.argv[4])
print(COMMAND + " ok")
