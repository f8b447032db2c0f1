#!/usr/bin/env bash
# Deploy AVESA's stacks: scripts/deploy.sh --environment dev|staging|prod [avesa aws deploy options]
# A thin wrapper over `avesa aws deploy`, which checks credentials, the CDK bootstrap and Docker first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/cdk ]; then
  npm ci --no-audit --no-fund
fi
if command -v avesa >/dev/null 2>&1; then
  exec avesa aws deploy "$@"
fi
exec env PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -m avesa aws deploy "$@"
