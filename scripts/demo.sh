#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start, first command: set this machine up (packages, bpffs, npm ci, build) and run the demo cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import ./scripts/ts-loader.mjs scripts/demo.ts "$@"
