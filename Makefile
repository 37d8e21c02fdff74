# bo.microvm — build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
-include mk/*.mk
