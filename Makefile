# FinalMile — every target does its own set-up; all are idempotent.
#   make demo    run the main job (the demo simulation on the embedded defaults)
#   make test    run the whole test suite (lint, types, unit, integration, ROS 2, simulators)
#   make bench   run the benchmarks; tables go to benchmarks/results/
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
ENV := . $(CURDIR)/tools/env.sh &&
VENV_STAMP := $(VENV)/.finalmile-deps
ROS_STAMP := ros_ws/install/.finalmile-built
ROS_SOURCES := $(shell find ros_ws/src -type f -not -name '*.pyc' 2>/dev/null)
DASHBOARD := fleet_manager/dashboard
DASHBOARD_STAMP := $(DASHBOARD)/static/.finalmile-built
DASHBOARD_SOURCES := $(DASHBOARD)/package-lock.json $(DASHBOARD)/build.mjs $(wildcard $(DASHBOARD)/src/*) \
  $(wildcard $(DASHBOARD)/src/track/*)
# Debian packages the tests use: headless Chromium (browser test), libsdformat + ign (SDF check), Mosquitto
# (each parcel-sensor test starts its own broker; the demo day's sensors too).
SYSTEM_PACKAGES := chromium ignition-tools libsdformat-dev mosquitto
# Three workers on two cores: most tests wait on simulated time, not the CPU (with two, the suite kept 2 workers
# busy for 1,344 s at a load average under 1.2: 2,658 s of tests). One xdist group per test file (the end-to-end
# days together), handed out heaviest first in the order tests/conftest.py sorts them (--no-loadscope-reorder:
# xdist would otherwise put the groups with the most tests first, whatever their length).
PYTEST_ARGS ?= -n 3 --dist loadgroup --no-loadscope-reorder

.PHONY: help setup venv ros dashboard system-packages demo test lint bench clean

help:
	@echo "make demo | make test | make bench | make setup | make clean"

setup: $(VENV_STAMP) $(ROS_STAMP) $(DASHBOARD_STAMP)

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) tools/fix_ros_cmake.py
	touch $@

ros: $(ROS_STAMP)

$(ROS_STAMP): $(VENV_STAMP) $(ROS_SOURCES) tools/build_ros.sh
	tools/build_ros.sh
	touch $@

dashboard: $(DASHBOARD_STAMP)

# The map page is bundled from pinned npm packages (Leaflet, esbuild); nothing comes from a CDN.
$(DASHBOARD_STAMP): $(DASHBOARD_SOURCES)
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund --loglevel=error
	npm run build --prefix $(DASHBOARD) --silent
	touch $@

# Installed only when missing, and only where we may (root); without them those tests skip.
system-packages:
	@if command -v chromium >/dev/null && command -v ign >/dev/null && \
	  { command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto; }; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "note: not root; install $(SYSTEM_PACKAGES) for the browser and SDF tests"; fi

# The main job: a 4-hour Helsinki delivery day on the embedded simulators (a few minutes of wall time).
# It prints the dashboard URL while it runs, then the KPIs and the run folder (var/runs/<id>/).
DEMO_ARGS ?=
demo: setup
	$(ENV) finalmile world show helsinki --picture var/helsinki.png
	$(ENV) finalmile sim helsinki $(DEMO_ARGS)

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check mission_planner fleet_manager sim_worlds tests benchmarks tools ros_ws/src/finalmile_sim_robot
	$(VENV)/bin/mypy

# Lint and types are checked after the tests so one run shows both; either failing fails the target.
test: setup system-packages
	status=0; $(ENV) $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(MAKE) --no-print-directory lint || status=$$((status ? status : 1)); \
	exit $$status

# Public truck-drone instances are not redistributed: point FINALMILE_BENCH_DATA at a checkout of them.
FINALMILE_BENCH_DATA ?= $(abspath $(CURDIR)/../shared/data)
export FINALMILE_BENCH_DATA

bench: setup
	$(ENV) $(PY) -m benchmarks

clean:
	rm -rf ros_ws/build ros_ws/install ros_ws/log var/cache
