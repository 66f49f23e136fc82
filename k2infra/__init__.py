"""k2infra: the K2 market-data Kafka topic architecture as a Pulumi program.

Apps import `k2infra.client.naming` (topic names, specs, subscriptions) without needing Pulumi.
"""

import sys as _sys

if getattr(getattr(_sys.modules.get("__main__"), "__spec__", None), "name", "").startswith("pulumi.dynamic"):
    # The Schema Registry provider runs in Pulumi's Python dynamic-provider process, which does not
    # notice when the engine is killed: make it exit then (see k2infra.deploy.engine_watch).
    from k2infra.deploy import engine_watch as _engine_watch

    _engine_watch.start()
