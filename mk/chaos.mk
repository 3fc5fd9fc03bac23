# Reliability suite and benchmarks. Included by the root Makefile:   include mk/chaos.mk
#
# chaos     full size (1,000 commands, 20 SIGKILL runs, 120 malformed in batches, a 10-min outage): ~20 min on 2 cores
# chaos-ci  reduced size (240 commands, 6 SIGKILL runs, 60 malformed in batches, a 2-min outage): ~9 min on 2 cores
# bench     throughput vs the usage plan, cost per command, overhead, RSS, cold start, and a 2-min
#           total SP-API outage (what was dead-lettered, target 0): ~7 min
# bench-coldstart  cold start of the built Lambda package, with and without bytecode: ~1 min

.PHONY: chaos chaos-ci bench bench-coldstart

# -p no:logging: pytest's log capture keeps every record of a test until it ends (the suites log at DEBUG
# into their own handler): tens of thousands of live records that slow every garbage collection.
CHAOS_PYTEST := $(BIN)/pytest tests/chaos tests/unit/test_malformed_commands.py -m "chaos or unit" \
	-s -p no:cacheprovider -p no:logging --ignore=tests/chaos/test_outage.py
# The outage test deploys a stack of its own (the deployed settings): in the same process moto's shared
# backends would let its teardown delete the queues of the suite's session stack.
CHAOS_OUTAGE_PYTEST := $(BIN)/pytest tests/chaos/test_outage.py -m chaos -s -p no:cacheprovider -p no:logging

## chaos: the reliability suite at full size (prints its figures)
chaos: $(STAMP)
	CHAOS_SIZE=full $(CHAOS_PYTEST)
	CHAOS_SIZE=full $(CHAOS_OUTAGE_PYTEST)

## chaos-ci: the reliability suite at the reduced size CI runs
chaos-ci: $(STAMP)
	CHAOS_SIZE=ci $(CHAOS_PYTEST)
	CHAOS_SIZE=ci $(CHAOS_OUTAGE_PYTEST)

## bench: benchmarks (prints tables; exits non-zero when a figure misses its target)
# Every step runs even when an earlier one misses, so one miss does not hide the other figures.
bench: $(STAMP)
	@missed=0; \
	$(BIN)/python -m benchmarks || missed=1; \
	$(BIN)/python -m benchmarks.paged_read_memory || missed=1; \
	CHAOS_SIZE=ci $(CHAOS_OUTAGE_PYTEST) || missed=1; \
	if [ $$missed -ne 0 ]; then echo "make bench: a step missed its target (MISSED or FAILED above)"; fi; \
	exit $$missed

## bench-coldstart: import time of the built Lambda package, with and without bytecode (exit 1 on a miss)
bench-coldstart: $(STAMP)
	$(BIN)/python -m benchmarks.coldstart
