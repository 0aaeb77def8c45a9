# fleetpatch: every check CI runs is a target here. `make help` lists them.
# Each target bootstraps what it needs (uv, the project venv, tool venvs) on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Python 3.13 for the venv, the tool venvs and sam build: tools/python313 finds it (PATH,
# pyenv, uv; or uv installs it where downloads are allowed) or says in one line what to
# install. Looked up once per make run, when a recipe first needs it, after uv exists;
# `make PYTHON313=/path/to/python3.13` chooses one.
PY313 = $(eval PY313 := $$(shell PYTHON313='$(PYTHON313)' tools/python313 '$(abspath $(UV))'))$(PY313)
# Stop a recipe when there is none (tools/python313 printed why).
NEED_PY313 = @[ -n "$(PY313)" ] || exit 1
# A Python to bootstrap uv with: any python3 will do.
BOOT_PYTHON ?= $(shell command -v python3 2>/dev/null || command -v python 2>/dev/null)
UV_VERSION := 0.13.8

TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/uv/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
AWSCLI := $(TOOLS)/awscli/bin/aws

# Trust the machine's certificate store (where a proxy's CA lives), not only uv's bundle.
export UV_SYSTEM_CERTS := 1
export SAM_CLI_TELEMETRY := 0
# Never reach a real AWS endpoint from a check: a region and dummy credentials for
# tools that insist on them; tests and the demo talk only to the local cloud.
export AWS_DEFAULT_REGION ?= eu-central-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
# Let Python write its bytecode caches (some environments export PYTHONDONTWRITEBYTECODE=1):
# without them every process and pytest worker compiles moto, botocore and the project from
# source again (about 3 CPU s per process that imports the local cloud).
unexport PYTHONDONTWRITEBYTECODE

# pytest-xdist workers: one per core (the suites are CPU-bound simulations).
TEST_WORKERS ?= auto

PY_SOURCES := $(wildcard layers/fleetpatch authoring cli localcloud functions tests benchmarks tools)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- bootstrap ---------------------------------------------------------------------------

$(TOOLS)/uv/bin/uv:
	@[ -n "$(BOOT_PYTHON)" ] || { echo "fleetpatch needs python3 (any version) to install uv, or uv itself on PATH" >&2; exit 1; }
	@# A venv where the Python has venv and pip (Debian's needs python3-venv); else pip --target.
	$(BOOT_PYTHON) -m venv $(TOOLS)/uv 2>/dev/null && $(TOOLS)/uv/bin/pip install --quiet uv==$(UV_VERSION) \
	  || { rm -rf $(TOOLS)/uv && $(BOOT_PYTHON) -m pip install --quiet --target $(TOOLS)/uv/lib uv==$(UV_VERSION) \
	       && mkdir -p $(TOOLS)/uv/bin && ln -sf ../lib/bin/uv $(TOOLS)/uv/bin/uv; } \
	  || { echo "could not install uv with $(BOOT_PYTHON): install uv (https://docs.astral.sh/uv/) or python3-venv and pip" >&2; exit 1; }

$(BIN)/python: pyproject.toml uv.lock | $(UV)
	$(NEED_PY313)
	$(UV) sync --frozen --python '$(PY313)'
	@touch $@

$(SAM): tools/sam-requirements.txt | $(UV)
	$(NEED_PY313)
	$(UV) venv --quiet --allow-existing --python '$(PY313)' $(TOOLS)/sam
	$(UV) pip install --quiet --python $(TOOLS)/sam/bin/python -r tools/sam-requirements.txt
	@touch $@

$(CHECKOV): tools/checkov-requirements.txt | $(UV)
	$(NEED_PY313)
	$(UV) venv --quiet --allow-existing --python '$(PY313)' $(TOOLS)/checkov
	$(UV) pip install --quiet --python $(TOOLS)/checkov/bin/python -r tools/checkov-requirements.txt
	@touch $@

# The AWS CLI (v1, from PyPI) for the `local up` sandbox and the workflow test that drives it
# (tests/workflows/test_local_up_cli.py): its own venv, like sam and checkov.
$(AWSCLI): tools/awscli-requirements.txt | $(UV)
	$(NEED_PY313)
	$(UV) venv --quiet --allow-existing --python '$(PY313)' $(TOOLS)/awscli
	$(UV) pip install --quiet --python $(TOOLS)/awscli/bin/python -r tools/awscli-requirements.txt
	@touch $@

.PHONY: awscli
awscli: $(AWSCLI) ## install the AWS CLI in a tool venv (.tools/awscli/bin/aws), for `local up`

.PHONY: venv
venv: $(BIN)/python ## create or update the project venv from the lock file

.PHONY: lock
lock: | $(UV) ## refresh uv.lock and the tool lock files after changing a pin
	$(NEED_PY313)
	$(UV) lock --python '$(PY313)'
	$(UV) pip compile --quiet --python-version 3.13 --universal tools/sam.in -o tools/sam-requirements.txt
	$(UV) pip compile --quiet --python-version 3.13 --universal tools/checkov.in -o tools/checkov-requirements.txt
	$(UV) pip compile --quiet --python-version 3.13 --universal tools/awscli.in -o tools/awscli-requirements.txt

# --- checks ------------------------------------------------------------------------------

.PHONY: test
test: lint unit workflows iam-check ## run every check: lint, unit and workflow tests, unused IAM grants

.PHONY: unit
unit: $(BIN)/python ## unit tests (no network)
	$(BIN)/pytest tests/unit -q -n $(TEST_WORKERS) --durations=10

IAM_LOG := out/iam

.PHONY: workflows
workflows: $(BIN)/python $(AWSCLI) ## workflow tests: the real template and ASL on the local cloud (IAM enforced; one drives local up with the AWS CLI)
	@# pytest exits 5 when it collects nothing; an empty suite is a failure here too.
	@# Every IAM decision of the run goes to $(IAM_LOG), for iam-check and iam-report.
	rm -rf $(IAM_LOG)
	FLEETPATCH_IAM_LOG=$(IAM_LOG) $(BIN)/pytest tests/workflows -q -n $(TEST_WORKERS) --durations=15

.PHONY: iam-check
iam-check: $(BIN)/python ## after make workflows: fail on a template grant no test used and docs/security.md does not explain
	$(BIN)/python tools/iam_report.py --check $(IAM_LOG) > $(IAM_LOG)/report.md
	@echo "IAM report: $(IAM_LOG)/report.md"

.PHONY: iam-report
iam-report: workflows ## every (role, action, resource) the workflow tests exercised, and the grants none used
	$(BIN)/python tools/iam_report.py $(IAM_LOG)

FAULTS_OUT := out/faults

.PHONY: faults
faults: $(BIN)/python ## the fault suite alone (tests/workflows/test_fault_suite.py), then its table of observed results
	rm -rf $(FAULTS_OUT)
	FLEETPATCH_FAULTS_OUT=$(FAULTS_OUT) $(BIN)/pytest tests/workflows/test_fault_suite.py -q -n $(TEST_WORKERS)
	$(BIN)/python tools/fault_table.py $(FAULTS_OUT)

.PHONY: soak
soak: $(BIN)/python ## a longer fault sweep (throttling + duplicates over 5 seeds, bigger fleets, 200 launches under AWS's rate limits); not in make test
	rm -rf $(FAULTS_OUT)-soak
	FLEETPATCH_SOAK=1 FLEETPATCH_FAULTS_BURST=$${FLEETPATCH_FAULTS_BURST:-10} FLEETPATCH_FAULTS_OUT=$(FAULTS_OUT)-soak \
	  $(BIN)/pytest tests/workflows/test_fault_suite.py tests/workflows/test_rate_limits.py -q -n $(TEST_WORKERS) \
	  -k "soak or throttled or duplicate or scale_out_of_200"
	$(BIN)/python tools/fault_table.py $(FAULTS_OUT)-soak

# The three lint groups are independent: run them side by side (one job each), each one's
# output printed in one piece when it ends (--output-sync); any failure fails make lint.
LINT_JOBS ?= 3

.PHONY: lint
lint: ## every static check: ruff, mypy, import contracts, file sizes, function environments, the policy, cfn-lint, sam validate, statelint, checkov
	@$(MAKE) --no-print-directory -j$(LINT_JOBS) --output-sync=target lint-python lint-policy lint-template

POLICY := policy/fleet.yaml
RENDERED_POLICY := policy/rendered/fleet-policy.yaml
POLICY_SCHEMA := policy/fleet.schema.json
MONITORING := monitoring/rendered/monitoring.yaml
# issue 22: the organization's central account, a stack of its own (docs/multi-account.md).
CENTRAL := central/template.yaml

.PHONY: policy
policy: $(BIN)/python ## check the fleet policy, render it for the template and write its JSON Schema
	$(BIN)/fleetpatch policy check $(POLICY)
	$(BIN)/fleetpatch policy render $(POLICY) -o $(RENDERED_POLICY)
	$(BIN)/fleetpatch policy schema -o $(POLICY_SCHEMA)

.PHONY: lint-policy
lint-policy: $(BIN)/python
	$(BIN)/fleetpatch policy check $(POLICY) > /dev/null
	@# The rendered stack and the schema are committed: fail when they lag the policy or the code.
	$(BIN)/fleetpatch policy render --check $(POLICY) -o $(RENDERED_POLICY)
	$(BIN)/fleetpatch policy schema --check -o $(POLICY_SCHEMA)

.PHONY: monitoring
monitoring: $(BIN)/python ## render the alarms and the dashboard (monitoring stack) from template.yaml
	$(BIN)/python tools/render_monitoring.py

.PHONY: lint-python
lint-python: $(BIN)/python
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	@# The shape: import contracts and no cycles (pyproject's [tool.importlinter]), no Python
	@# file over 600 lines, and each function's environment as template.yaml sets it.
	$(BIN)/lint-imports --no-cache
	$(BIN)/python tools/check_sizes.py
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_function_environment.py

.PHONY: lint-template
lint-template: $(BIN)/python $(SAM) $(CHECKOV)
	@# The monitoring stack is committed: fail when a queue, state machine or function lacks its alarm.
	$(BIN)/python tools/render_monitoring.py --check
	$(TOOLS)/sam/bin/cfn-lint template.yaml $(RENDERED_POLICY) $(MONITORING) $(CENTRAL)
	$(SAM) validate --lint --template template.yaml
	$(SAM) validate --lint --template $(CENTRAL)
	@# statelint, plus a syntax check of the JSONata it cannot read in numeric fields (see the script)
	$(BIN)/python tools/lint_asl.py $(wildcard statemachines/*.asl.json)
	@# --skip-download: no Prisma Cloud guideline download (offline; skips keep their CKV_ ids)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml -f $(RENDERED_POLICY) -f $(MONITORING) -f $(CENTRAL)

.PHONY: fmt
fmt: $(BIN)/python ## format and autofix the Python sources
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)

.PHONY: build
build: $(SAM) ## sam build (the layer and every function) with Python 3.13 on PATH
	@# sam build wants python3.13 on PATH. Put the real interpreter's directory there, not a
	@# pyenv shim's: a shim for a version pyenv has not selected makes sam build hang.
	$(NEED_PY313)
	PATH="$$(dirname '$(PY313)'):$$PATH" \
	  $(SAM) build --template template.yaml

.PHONY: demo
demo: $(BIN)/python ## play scenarios/demo.yaml on the local cloud: timeline, e-mails, Slack, reports in out/demo-reports
	$(BIN)/fleetpatch local run scenarios/demo.yaml --reports out/demo-reports

.PHONY: bench
bench: $(BIN)/python ## measure cost, latency, scale and cold start on the local cloud (table; BENCH_JSON=file for JSON)
	$(BIN)/python -m benchmarks.run $(if $(BENCH_JSON),--json $(BENCH_JSON)) $(BENCH_ARGS)

.PHONY: report-screenshot
report-screenshot: $(BIN)/python ## screenshot a sample run report at desktop and phone widths with headless Chromium (docs/img)
	@# Chromium draws the page; install it only where it is missing (root, or sudo on CI).
	@if [ ! -x /usr/bin/chromium ]; then \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y --no-install-recommends chromium; \
	fi
	$(BIN)/python tools/screenshot_reports.py --sample \
	  --desktop docs/img/report-desktop.png --phone docs/img/report-phone.png

.PHONY: clean
clean: ## remove build output, venvs and tool venvs
	rm -rf .aws-sam $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
