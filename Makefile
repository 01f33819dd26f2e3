# Two commands set everything up on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv (pip) and install the Debian packages the project uses (apt) first.

PY      := .venv/bin/python
STAMP   := .venv/.installed
export PYTHONPATH := $(CURDIR)
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
# one torch thread per process: tests run several processes on few cores, and oversubscribed OpenMP threads spin
unit: export OMP_NUM_THREADS ?= 1

.PHONY: venv system-deps test lint typecheck unit demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(MAKE) --no-print-directory system-deps
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so nothing below can pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# the repo itself on the venv's path, so `python training/train.py` etc. work from any folder
	$(PY) -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'fusionvae_ros_repo.pth').write_text('$(CURDIR)\\n')"
	touch $(STAMP)

# Debian packages: Fashion-MNIST (the larger data set in the MNIST format).
system-deps:
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; fi; \
	fi

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: venv
	.venv/bin/mypy fusionvae_core

unit: venv
	$(PY) -m pytest -q

test: lint typecheck unit

demo: venv
	$(PY) -m fusionvae_ros.demo

# Each benchmark's output goes to results/bench_<name>.txt, headed by the command, date and hardware.
BENCHES := model_throughput inference node_latency data_loader render
bench: venv
	@mkdir -p results
	@for b in $(BENCHES); do \
	  { echo "$$ $(PY) bench/$$b.py"; date -u; echo "$$(nproc) CPUs: $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"; \
	    OMP_NUM_THREADS=$$(nproc) $(PY) bench/$$b.py; } 2>&1 | tee results/bench_$$b.txt; \
	done

clean:
	rm -rf build install log demo_output .pytest_cache .mypy_cache .ruff_cache
