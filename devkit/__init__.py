"""Development support shared by the tests and the benchmarks (never installed with k2infra):
the real local platform (tools/platform.sh) and throwaway Pulumi projects on the real CLI."""
