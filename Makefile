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
PYTEST_ARGS ?=

.PHONY: help setup venv ros demo test lint bench clean

help:
	@echo "make demo | make test | make bench | make setup | make clean"

setup: $(VENV_STAMP) $(ROS_STAMP)

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) tools/fix_ros_cmake.py
	touch $@

ros: $(ROS_STAMP)

$(ROS_STAMP): $(VENV_STAMP) $(ROS_SOURCES) tools/build_ros.sh
	tools/build_ros.sh
	touch $@

demo: setup
	$(ENV) finalmile world show helsinki --picture var/helsinki.png

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check mission_planner fleet_manager sim_worlds tests benchmarks tools
	$(VENV)/bin/mypy

test: setup lint
	$(ENV) $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(ENV) $(PY) -m benchmarks

clean:
	rm -rf ros_ws/build ros_ws/install ros_ws/log var/cache
