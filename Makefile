# kubesnap: the targets Kubernetes operator users know.
SWIFT ?= swift
DATA_DIR ?= .kubesnap
IMG ?= kubesnap:dev
KUBECTL ?= kubectl

.PHONY: generate deps test-deps build release dev test bench install uninstall deploy undeploy docker-build format

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Regenerate code from crds/ (the CRDs embedded in the binary for `kubesnap dev`) and from the
## console's assets (its script and sheet, embedded in the binary).
generate:
	scripts/embed-files.sh

## Build and start `kubesnap dev`: the built-in API server with the CRDs, plus the operator.
dev: build
	$(SWIFT) run kubesnap dev --data-dir $(DATA_DIR)

## Every test. This is what CI (.ci/run) runs.
## Tests run in parallel in one process; the width bounds how many at once, so that a 2-core
## machine running API servers, operators and restic for each test does not starve any of them.
TEST_PARALLELISM ?= 3
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --experimental-maximum-parallelization-width $(TEST_PARALLELISM)

bench: test-deps
	$(SWIFT) build -c release
	.build/release/kubesnap-bench all

## Install the CRDs into the cluster of the current kubeconfig.
install:
	$(KUBECTL) apply -f crds/

uninstall:
	$(KUBECTL) delete -f crds/

## Install CRDs, RBAC and the operator Deployment.
deploy:
	$(KUBECTL) apply -k deploy/

undeploy:
	$(KUBECTL) delete -k deploy/

docker-build:
	docker build -t $(IMG) .

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift
