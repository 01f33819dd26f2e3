# Two commands set everything up on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv first (pip only: no root, no sudo). `make system-deps` (as root) adds optional Debian data.

PY      := .venv/bin/python
STAMP   := .venv/.installed
export PYTHONPATH := $(CURDIR)
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
# one torch thread per process: tests run several processes on few cores, and oversubscribed OpenMP threads spin
unit test-fast: export OMP_NUM_THREADS ?= 1

.PHONY: venv system-deps test test-fast lint typecheck unit demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so nothing below can pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# the checkout holding this .venv on its path, so `python training/train.py` etc. work from any folder; the
	# .pth finds the checkout from the venv's location, so a moved or second clone imports its own code
	cp tools/venv_checkout.pth "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/fusionvae_ros_repo.pth"
	touch $(STAMP)

# Optional Debian data: Fashion-MNIST for the fusion_fashion config (neither the demo nor the tests need it). Root
# only; never sudo from a Makefile.
system-deps:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST is installed"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else echo "system-deps: as root, run: apt-get install dataset-fashion-mnist" >&2; exit 2; fi

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: venv
	.venv/bin/mypy fusionvae_core fusionvae_ros training

unit: venv
	$(PY) -m pytest -q

test: lint typecheck unit

# the quick tier while working: no ROS processes, no training, no package build (markers in pyproject.toml)
test-fast: venv
	$(PY) -m pytest -q -m "not slow and not ros"

demo: venv
	$(PY) -m fusionvae_ros.demo

# Each benchmark's output goes to results/bench_<name>.txt, headed by the command, date and hardware.
BENCHES := model_throughput inference node_latency fuzz_node soak_node data_loader render frame_selection
bench: venv
	@mkdir -p results
	@for b in $(BENCHES); do \
	  { echo "$$ $(PY) bench/$$b.py"; date -u; echo "$$(nproc) CPUs: $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"; \
	    OMP_NUM_THREADS=$$(nproc) $(PY) bench/$$b.py; } 2>&1 | tee results/bench_$$b.txt; \
	done

clean:
	rm -rf build install log demo_output .pytest_cache .mypy_cache .ruff_cache
