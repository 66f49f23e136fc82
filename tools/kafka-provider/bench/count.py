"""count.py LOG FROM_LINE: client requests (PLAINTEXT listener) per kind after FROM_LINE of the broker's
request log, topics per CreateTopics/DeleteTopics request, and the most such requests in flight at once."""

import json
import sys
from datetime import datetime
from pathlib import Path

lines = Path(sys.argv[1]).read_text().splitlines()[int(sys.argv[2]) :]
kinds = {
    19: "CreateTopics",
    20: "DeleteTopics",
    3: "Metadata",
    32: "DescribeConfigs",
    37: "CreatePartitions",
    44: "IncrementalAlterConfigs",
}
counts = {}
spans = {"CreateTopics": [], "DeleteTopics": []}
items = {"CreateTopics": [], "DeleteTopics": []}
for line in lines:
    i = line.find("Completed request:")
    if i < 0:
        continue
    try:
        d = json.loads(line[i + len("Completed request:") :])
    except ValueError:
        continue
    if d.get("listener") != "PLAINTEXT":
        continue
    key = d["requestHeader"]["requestApiKey"]
    if key not in kinds:
        continue
    kind = kinds[key]
    counts[kind] = counts.get(kind, 0) + 1
    if kind in spans:
        end = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        spans[kind].append((end - d["totalTimeMs"] / 1000, end))
        req = d.get("request", {})
        items[kind].append(len(req.get("topics", []) or req.get("topicNames", [])))


def max_overlap(sp):
    ev = sorted([(s, 1) for s, _ in sp] + [(e, -1) for _, e in sp])
    cur = best = 0
    for _, dlt in ev:
        cur += dlt
        best = max(best, cur)
    return best


out = [f"{k}={v}" for k, v in counts.items()]
for k in spans:
    if spans[k]:
        out.append(f"{k}:topics_per_request_max={max(items[k])},max_in_flight={max_overlap(spans[k])}")
print(" ".join(out))
