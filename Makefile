# Kiln developer entry points. `make demo` sets up a fresh Debian machine and shows a push becoming
# an image; `make setup` installs what a fresh machine lacks; `make test` runs every test (it
# starts the local control plane itself when needed); `make down` stops everything.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export KILN_WORK ?= /tmp/kiln

APT_PACKAGES := etcd-server etcd-client openssl curl git docker-registry skopeo jq \
	golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev \
	containerd runc containernetworking-plugins iptables iproute2 busybox-static debootstrap python3-venv wrk buildah socat conntrack

.PHONY: setup apt venv build-cluster test unit integration lint up down demo bench crds image

setup: apt venv build-cluster

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install" $$missing; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  if [ -d /run/systemd/system ]; then \
	    for svc in docker-registry etcd containerd; do \
	      systemctl disable --now $$svc >/dev/null 2>&1 && echo "disabled $$svc.service (hack/ runs its own on 127.0.0.1)"; \
	    done; \
	  fi; \
	fi

venv:
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

build-cluster:
	hack/control-plane.sh build
	hack/node.sh images

test:
	$(PY) -m pytest tests

unit:
	$(PY) -m pytest tests/unit

integration:
	$(PY) -m pytest tests/integration

lint:
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

up:
	@hack/control-plane.sh start >/dev/null
	@hack/registry.sh start
	@hack/node.sh start
	@hack/gitserver.sh start
	@echo "kubeconfig: $$(hack/control-plane.sh kubeconfig)"
	@echo "kubectl:    $$(hack/control-plane.sh bin)/kubectl"

# the local stack, the operator and the webhook receiver, a tenant, a push to main and to
# release-v1 delivered by the git server's post-receive hook, both builds followed, the images'
# digests read back from the registry (hack/demo.sh); again: new commits, new builds
demo: setup
	@hack/demo.sh run

down:
	-hack/demo.sh stop
	-hack/gitserver.sh stop
	-hack/node.sh stop
	-hack/registry.sh stop
	-hack/control-plane.sh stop

bench:
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

crds:
	$(VENV)/bin/kiln crds --write

# the Kiln image (Dockerfile), built with host buildah on a base made from Debian's archive and
# imported into the local node's containerd (which `make up` starts)
image:
	@hack/image.sh base >/dev/null
	@ref=$$(hack/image.sh build) && hack/image.sh import "$$ref"
