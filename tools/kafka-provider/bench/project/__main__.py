# The benchmark program: N bare topics (3 partitions, one config) on an explicit provider.
import os

import pulumi
import pulumi_kafka as kafka

n = int(os.environ["BENCH_TOPICS"])
provider = kafka.Provider("kafka", bootstrap_servers=[os.environ["BENCH_BOOTSTRAP"]], tls_enabled=False)
opts = pulumi.ResourceOptions(provider=provider)
for i in range(n):
    kafka.Topic(
        f"t{i:04d}",
        name=f"bench.t{i:04d}",
        partitions=3,
        replication_factor=1,
        config={"retention.ms": "3600000"},
        opts=opts,
    )
