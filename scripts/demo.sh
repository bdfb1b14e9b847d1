#!/usr/bin/env bash
# The detection demo on one machine: set up (cached), train attention-ae with default
# settings on a labelled dataset, evaluate it under the streaming protocol, draw plots.
#   bash scripts/demo.sh [DATA_DIR] [OUT_DIR]
# DATA_DIR defaults to ../shared/datasets/ucsd-ped2; STREAMPROC_DEMO_EPOCHS overrides
# the epochs (the default run takes ~20 min on 2 CPU cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/datasets/ucsd-ped2}
OUT=${2:-runs/demo}
if [ ! -d "$DATA" ]; then
  echo "error: dataset $DATA not found; pass a folder laid out as DIR/train/<clip>/*.jpg," \
       "DIR/test/<clip>/*.jpg and DIR/test_labels.json" >&2
  exit 2
fi
bash scripts/setup.sh --no-services
SP=.venv/bin/streamproc
EPOCHS=()
[ -n "${STREAMPROC_DEMO_EPOCHS:-}" ] && EPOCHS=(--epochs "$STREAMPROC_DEMO_EPOCHS")
$SP train --data "$DATA" --model attention-ae --out "$OUT/attention-ae" "${EPOCHS[@]}"
$SP eval --data "$DATA" --artifact "$OUT/attention-ae" --protocol streaming \
  --report "$OUT/report-streaming.json" --plots "$OUT/plots"
echo "report: $OUT/report-streaming.json; plots: $OUT/plots/ (roc.png, timelines.png, heatmaps.png, clip_*.mp4)"
