"""k2infra benchmarks: how the topic architecture scales with the number of topics.

    make bench                                  # the full run; writes docs/benchmarks.md + .png
    python -m bench --sizes 6,60 --repeat 1     # a quick run (results in bench/results/)
    python -m bench --quick                     # a smoke run: 6 topics, once
    python -m bench --render bench/results/latest.json   # re-render the docs from saved results

Modules: topologies (synthetic topologies from config/kafka/topics.yaml), measure (timing, peak
memory, median and spread), evaluate (the program under mocks, in a child process), floor (the
batched Kafka AdminClient floor), project (a throwaway Pulumi project per size), profiling and
findings (where the time goes), scenarios (the run), report (tables, markdown, PNG), cli.
"""
