"""``make bench``: throughput against the usage plan, cost per command, overhead, cold start."""
