#!/usr/bin/env bash
# Run the PressRAG plugin's PHPUnit suite against a private, real WordPress.
#   wp-plugin/tests/run.sh                      # temp WordPress, removed afterwards
#   wp-plugin/tests/run.sh --workdir /tmp/wp    # reuse a work folder (warm start ~4 s)
#   wp-plugin/tests/run.sh -- --filter OutboxTest
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${repo}/.venv/bin/python"
[[ -x "${python}" ]] || python="$(command -v python3)"
exec "${python}" "${repo}/wp-plugin/tests/run_phpunit.py" "$@"
