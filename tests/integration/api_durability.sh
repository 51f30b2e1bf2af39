#!/usr/bin/env bash
# SQLite durability across SIGKILL of the API server.
set -u
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/integration/api_durability.py
