#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every test (unit, kernel, integration, e2e) after making sure the machine is set up and the build is
# current. As root on Debian. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx vitest run "$@"
