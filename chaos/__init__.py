"""The reliability harness behind ``make chaos`` and the benchmarks: command mixes, fault programmes,
the exactly-once ledger, AWS fault injection through botocore events, a killable worker process and a
secret scanner. The tests that use it live in ``tests/chaos/``."""
