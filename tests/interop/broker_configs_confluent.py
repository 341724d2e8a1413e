"""Dynamic broker configs through confluent-kafka's AdminClient (librdkafka
routes a BROKER resource to the broker it names): incremental_alter_configs
on one broker, describe_configs of every broker, and a refused static key.

usage: broker_configs_confluent.py BOOTSTRAP BROKER_ID OTHER_ID
"""

import sys

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

RATE = "leader.replication.throttled.rate"

bootstrap, broker_id, other_id = sys.argv[1], sys.argv[2], sys.argv[3]
admin = AdminClient({"bootstrap.servers": bootstrap})


def alter(broker, name, value, op=AlterConfigOpType.SET):
    res = ConfigResource(
        ResourceType.BROKER,
        broker,
        incremental_configs=[ConfigEntry(name, value, incremental_operation=op)],
    )
    for _, f in admin.incremental_alter_configs([res]).items():
        f.result(timeout=30)


def describe(broker):
    res = ConfigResource(ResourceType.BROKER, broker)
    for _, f in admin.describe_configs([res]).items():
        return f.result(timeout=30)


alter(broker_id, RATE, "123456")
own = describe(broker_id)[RATE]
print(f"own: {own.name}={own.value} source={own.source} read_only={own.is_read_only}")
print("own synonyms: " + ",".join(f"{s.source}:{s.value}" for s in own.synonyms.values()))
other = describe(other_id)[RATE]
print(f"other: {other.name}={other.value} source={other.source}")
static = describe(broker_id)["log.dirs"]
print(f"static: source={static.source} read_only={static.is_read_only}")

try:
    alter(broker_id, "log.dirs", "/elsewhere")
    print("refused: no")
except Exception as e:  # KafkaException carrying the broker's KafkaError
    err = e.args[0]
    print(f"refused: {err.name()} {err.str()}")

alter(broker_id, RATE, None, AlterConfigOpType.DELETE)
after = describe(broker_id)[RATE]
print(f"after delete: source={after.source}")
print("confluent broker configs ok")
