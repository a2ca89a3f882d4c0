# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   - recommendations and an explanation for a bundled patient
#   make test   - the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-cohort bench-serve check fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# the Spark backend's tests need Java; with it, install pyspark (~450 MB) too
	if command -v java >/dev/null 2>&1; then $(BIN)/python -m pip install --quiet -e ".[spark]"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/oncologic check
	$(BIN)/oncologic recommend examples/patients/sclc_second_line.json
	$(BIN)/oncologic explain examples/patients/sclc_second_line.json anlotinib+irinotecan
	$(BIN)/oncologic why-not examples/patients/sclc_tfi_90d.json topotecan

# The suite runs on every core (pytest-xdist); `$(BIN)/python -m pytest tests/FILE.py` runs one file alone.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

# The fuzz harness (tests/test_fuzz.py) for longer than CI's 45 s: FUZZ_BUDGET seconds shared by
# the generators, a fresh seed each run unless FUZZ_SEED is given; the runs per generator are
# written to fuzz-report.json. A failure prints its seed and case: replay with FUZZ_SEED=...
FUZZ_BUDGET ?= 600
FUZZ_SEED   ?= $(shell date +%s)
fuzz: $(STAMP)
	ONCOLOGIC_FUZZ_BUDGET=$(FUZZ_BUDGET) ONCOLOGIC_FUZZ_SEED=$(FUZZ_SEED) ONCOLOGIC_FUZZ_REPORT=fuzz-report.json \
		$(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider -rxXf
	@echo "seed $(FUZZ_SEED), budget $(FUZZ_BUDGET) s: fuzz-report.json"

check: $(STAMP)
	$(BIN)/oncologic check

bench: $(STAMP)
	$(BIN)/python bench/cold.py
	$(BIN)/python -m pytest bench -q -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,mean,max,rounds

# The cohort benchmark (bench/cohort/run.py, issue 15): every engine on seeded synthetic cohorts of
# BENCH_SIZES patients, interleaved, each measurement in its own process, median of 3; the cohorts
# are generated once per seed and size into bench/cohort/data/ (git-ignored). Prints a Markdown
# table, writes bench/cohort/data/results.json. A shorter run: make bench-cohort BENCH_SIZES=10000
BENCH_SIZES ?= 10000,100000,1000000
bench-cohort: $(STAMP)
	$(BIN)/python bench/cohort/run.py --sizes $(BENCH_SIZES)

# The CDS Hooks service's throughput (bench/serve/run.py, issue 16): patient-view on loopback from an
# async client, SERVE_REQUESTS requests (or SERVE_SECONDS seconds), SERVE_CONCURRENCY in flight.
SERVE_REQUESTS    ?= 2000
SERVE_SECONDS     ?= 60
SERVE_CONCURRENCY ?= 8
bench-serve: $(STAMP)
	$(BIN)/python bench/serve/run.py --requests $(SERVE_REQUESTS) --seconds $(SERVE_SECONDS) --concurrency $(SERVE_CONCURRENCY)

clean:
	rm -rf $(VENV) build dist *.egg-info engine/*.egg-info .pytest_cache
