#!/usr/bin/env bash
# The API contract tests against rampart-api on the embedded SQLite store.
set -u
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/integration/api_contract.py
