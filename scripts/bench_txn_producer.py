"""Produces N 100-byte records with confluent-kafka (librdkafka) to TOPIC,
idempotent or transactional (one commit every COMMIT_MS), and prints
"<mode> <records/s>". Used by scripts/bench-transactions.sh.

Usage: bench_txn_producer.py BOOTSTRAP TOPIC N idempotent|transactional [COMMIT_MS]"""
import sys
import time
import uuid

from confluent_kafka import Producer

BOOTSTRAP, TOPIC, N, MODE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
COMMIT_MS = int(sys.argv[5]) if len(sys.argv) > 5 else 100
conf = {"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5,
        "batch.size": 1000000, "queue.buffering.max.messages": 1000000}
if MODE == "transactional":
    conf["transactional.id"] = "bench-" + uuid.uuid4().hex[:8]
p = Producer(conf)
payload = b"x" * 100
txn = MODE == "transactional"
# Both modes start timing with the producer id and the topic's metadata in
# hand: a warm-up record (inside a committed transaction when transactional).
if txn:
    p.init_transactions(60)
    p.begin_transaction()
p.produce(TOPIC, b"warm-up")
if txn:
    p.commit_transaction(60)
    p.begin_transaction()
else:
    p.flush(60)
start = time.monotonic()
last_commit = start
commits = 0
for i in range(N):
    while True:
        try:
            p.produce(TOPIC, payload)
            break
        except BufferError:
            p.poll(0.001)
    if txn and (i & 1023) == 0 and (time.monotonic() - last_commit) * 1000 >= COMMIT_MS:
        p.commit_transaction(60)
        commits += 1
        p.begin_transaction()
        last_commit = time.monotonic()
if txn:
    p.commit_transaction(60)
    commits += 1
else:
    p.flush(60)
elapsed = time.monotonic() - start
print("%s %.0f records/s (%d commits)" % (MODE, N / elapsed, commits))
