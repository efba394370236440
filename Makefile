# Two entry points: `make demo` and `make test`. Both build .venv first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ganforge-installed
DEMO_SECONDS ?= 600

.PHONY: setup data demo test clean

setup: $(STAMP)

# torch goes in first, pinned to the CPU wheel: an unpinned torch would pull
# several GB of CUDA packages.
$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	# torch-fidelity: only its Inception module, as an independent reference in tests (--no-deps: no torchvision)
	$(PY) -m pip install -q --no-deps torch-fidelity==0.4.0
	touch $(STAMP)

data:
	bash scripts/ensure_fashion_mnist.sh

demo: setup data
	$(VENV)/bin/ganforge train dcgan-fmnist --out runs/demo --force --set train.max_seconds=$(DEMO_SECONDS)
	@echo "Samples: $$(ls -1 runs/demo/samples/*.png | tail -n 1)  (all grids in runs/demo/samples/)"

test: setup data
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs
