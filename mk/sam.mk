# SAM targets. Included by the root Makefile:   include mk/sam.mk
#
# The SAM CLI lives in its own virtualenv (.venv-sam): it pins its own boto3/pydantic, which must
# not leak into the project's .venv. Nothing here talks to AWS: validation and builds run with a
# dummy region and fake credentials.

PYTHON ?= python3
SAM_VENV := .venv-sam
SAM_BIN := $(SAM_VENV)/bin
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION := 1.170.0
# Lambda platform of WorkerFunction (keep in step with Runtime/Architectures in template.yaml; a test
# checks). tools/lambda_package.py builds the same recipe for this machine's platform: its x86_64 twin.
LAMBDA_PYTHON_VERSION := 3.12
LAMBDA_PLATFORM ?= manylinux2014_aarch64
# The interpreter that compiles the package's bytecode is the runtime's version (the magic number is
# per version): tools/find_python.py finds it (PATH, pyenv), or LAMBDA_PYTHON=/path/to/python3.12.
FIND_LAMBDA_PYTHON := $(PYTHON) tools/find_python.py $(LAMBDA_PYTHON_VERSION)
# Top-level packages shipped to Lambda; cli/, local/, emulator/, tests/, .venv/ stay out.
LAMBDA_PACKAGES := domain adapters handlers

# Never reach a real AWS account from these targets.
SAM_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	SAM_CLI_TELEMETRY=0

.PHONY: sam-venv validate-template sam-build build-WorkerFunction build-PollerFunction build-NotificationFunction

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	touch $(SAM_STAMP)

## sam-venv: SAM CLI in its own virtualenv (.venv-sam)
sam-venv: $(SAM_STAMP)

## validate-template: cfn-lint + sam validate --lint (offline, fake credentials)
validate-template: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM_ENV) $(SAM_BIN)/sam validate --lint --template-file template.yaml --region us-east-1

## sam-build: sam build without a container (BuildMethod: makefile -> build-WorkerFunction below)
sam-build: $(SAM_STAMP)
	$(SAM_ENV) $(SAM_BIN)/sam build --template-file template.yaml --build-in-source --parallel

# Called by `sam build` (BuildMethod: makefile, CodeUri: .) with ARTIFACTS_DIR set; with
# --build-in-source it runs in the repository itself, so .venv is never copied to a scratch dir.
#
# The package ships bytecode: importing the handler without it compiles ~800 modules on every cold
# start (/var/task is read-only, so nothing is cached), about 2.5x the import time (`make
# bench-coldstart`). The .pyc files are unchecked-hash (PEP 552): Python loads them without comparing
# the source's mtime, which the zip and its extraction do not keep exactly (DOS times count in 2 s),
# and the artifact is never edited after the build. Compiled with the runtime's interpreter (the magic
# number is per version) and with paths as Lambda sees them (/var/task), so the build is reproducible.
build-WorkerFunction build-PollerFunction build-NotificationFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (run through sam build)"; exit 1; }
	@$(FIND_LAMBDA_PYTHON) >/dev/null || { \
		echo "the package's bytecode is compiled by Python $(LAMBDA_PYTHON_VERSION), the Lambda runtime"; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	for pkg in $(LAMBDA_PACKAGES); do \
		rm -rf "$(ARTIFACTS_DIR)/$$pkg" && cp -R "$$pkg" "$(ARTIFACTS_DIR)/$$pkg" || exit 1; \
	done
	find "$(ARTIFACTS_DIR)" -name '__pycache__' -type d -prune -exec rm -rf {} +
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile \
		--platform $(LAMBDA_PLATFORM) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: --upgrade --target "$(ARTIFACTS_DIR)" -r requirements/lambda.txt
	rm -rf "$(ARTIFACTS_DIR)/bin"
	$$($(FIND_LAMBDA_PYTHON)) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		-s "$(ARTIFACTS_DIR)" -p /var/task "$(ARTIFACTS_DIR)"
