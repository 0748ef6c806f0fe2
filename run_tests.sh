#!/usr/bin/env bash
# Install slicetune with its test extras into .venv and run the test suite (pytest args pass through).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=$(md5sum pyproject.toml | cut -c1-32)-test
if [ "$(cat .venv/.slicetune-test-installed 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$stamp" > .venv/.slicetune-test-installed
fi
exec .venv/bin/python -m pytest "$@"
