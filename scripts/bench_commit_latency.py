"""Commit latency on a replicated cluster, as a client sees it: COUNT
synchronous offset commits of one consumer (confluent-kafka), then COUNT
transactions of one record each (init once, then begin/produce/commit).
Prints the median and the maximum of each, in ms.

Usage: bench_commit_latency.py BOOTSTRAP TOPIC COUNT
"""
import statistics
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def ms(samples):
    return "median %.1f ms, max %.1f ms" % (statistics.median(samples) * 1e3, max(samples) * 1e3)


def commits(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # finds the coordinator
    took = []
    for i in range(1, count + 1):
        t = time.monotonic()
        done = c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
        took.append(time.monotonic() - t)
        if done[0].error is not None:
            raise SystemExit("commit of offset %d: %s" % (i, done[0].error))
    c.close()
    return took


def transactions(bootstrap, topic, count):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "latency", "linger.ms": 0})
    p.init_transactions(30)
    took = []
    for i in range(count + 1):
        t = time.monotonic()
        p.begin_transaction()
        p.produce(topic, b"x", partition=0)
        p.commit_transaction(30)
        if i:  # the first one also finds the partition's leader
            took.append(time.monotonic() - t)
    return took


if __name__ == "__main__":
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("offset commit: " + ms(commits(bootstrap, topic, count)))
    print("transaction of one record: " + ms(transactions(bootstrap, topic, count)))
