"""k2infra benchmarks: how the topic architecture scales with the number of topics.

    make bench                                  # the full run: fills docs/benchmarks.md's tables, redraws the plot
    python -m bench --sizes 6,60 --repeat 1     # a quick run (results and docs copy in bench/results/)
    python -m bench --quick                     # a smoke run: 6 topics, once
    python -m bench --render bench/results/latest.json   # refill the docs' tables from saved results

Modules: topologies (synthetic topologies from config/kafka/topics.yaml), measure (timing, peak
memory, median and spread), evaluate (the program under mocks, in a child process), floor (the
batched Kafka AdminClient floor), peers (Jikkou and topicctl), project (a throwaway Pulumi project
per size), scenarios (the run), report (tables and the plot), cli.
"""
