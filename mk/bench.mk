# make bench: per-task cost and deploy cost, side by side, on the lab (not part of make test).
.PHONY: bench

bench: collection ## per-task cost (fast path, plain, builtin pipelined/not) and deploy batched vs per-VM, both controllers
	bash .ci/deps
	python3 tests/bench/bench.py
