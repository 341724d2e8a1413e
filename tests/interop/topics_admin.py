"""Describes topics through confluent-kafka's AdminClient (librdkafka) and
prints them as JSON in the shape of `kafka-rs topics --describe --output json`,
so the Rust test can compare the two views of the same broker.

usage: topics_admin.py BOOTSTRAP
"""
import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource


def main():
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})
    md = admin.list_topics(timeout=20)
    out = []
    for name in sorted(md.topics):
        t = md.topics[name]
        if t.error is not None:
            continue
        parts = []
        for pid in sorted(t.partitions):
            p = t.partitions[pid]
            parts.append({
                "partition": pid,
                "leader": p.leader if p.leader >= 0 else None,
                "replicas": list(p.replicas),
                "isr": list(p.isrs),
            })
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        entries = admin.describe_configs([res])[res].result(timeout=20)
        configs = {
            k: e.value
            for k, e in entries.items()
            if not e.is_default
        }
        out.append({
            "topic": name,
            "partition_count": len(parts),
            "replication_factor": len(parts[0]["replicas"]) if parts else 0,
            "configs": configs,
            "partitions": parts,
        })
    print(json.dumps(out, sort_keys=True))


main()
