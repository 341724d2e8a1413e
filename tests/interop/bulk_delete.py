"""A DeleteTopics of many topics at once, as librdkafka's test
0045_subscribe_many_updates sends it, with a consumer subscribed by regex to
every one of them: each topic must be deleted and answered without error,
and the consumer must keep working.

Usage: bulk_delete.py BOOTSTRAP PREFIX COUNT"""
import sys
import time

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP, PREFIX, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ["%s-%d" % (PREFIX, i) for i in range(COUNT)]
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for name, f in admin.create_topics([NewTopic(n, 4, 1) for n in names],
                                   request_timeout=120).items():
    f.result()

consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": PREFIX + "-group",
                     "topic.metadata.refresh.interval.ms": 500,
                     "auto.offset.reset": "earliest"})
consumer.subscribe(["^%s-.*" % PREFIX])
fatal = []


def poll_once():
    m = consumer.poll(0.1)
    if m is not None and m.error() and m.error().fatal():
        fatal.append(str(m.error()))


deadline = time.time() + 120
while not consumer.assignment() and time.time() < deadline:
    poll_once()
assert consumer.assignment(), "the consumer never got an assignment"

# The consumer keeps polling while the deletion runs, as an application
# would.
futures = admin.delete_topics(names, request_timeout=120, operation_timeout=120)
deadline = time.time() + 150
while not all(f.done() for f in futures.values()) and time.time() < deadline:
    poll_once()
errors = []
for name, f in futures.items():
    try:
        f.result(timeout=1)
    except Exception as e:  # every failure is reported, not only the first
        errors.append("%s: %s" % (name, e))
assert not errors, errors

left = [n for n in admin.list_topics(timeout=30).topics if n.startswith(PREFIX + "-")]
assert not left, left
for _ in range(20):
    poll_once()
consumer.close()
assert not fatal, fatal
print("OK deleted %d topics" % COUNT)
