"""Test support code: the real local platform (tools/platform.sh) for integration tests."""
