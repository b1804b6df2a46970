#!/usr/bin/env bash
# The newcomer's first run: the baseline strategy on the built-in data (about 11 minutes on
# 2 cores), its report, then the standalone predictor on the x86 .nb it made.
# Run from the repository root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ppliteformer run strategies/baseline.yaml
.venv/bin/ppliteformer report work/baseline
echo "Open work/baseline/report.html in a browser (or read work/baseline/report.md)."
echo
echo "Standalone predictor (deploy/python/predict.py) on work/baseline/convert/x86:"
.venv/bin/python deploy/python/predict.py --model work/baseline/convert/x86 \
  --text "质量很好，物流也快，下次还会再买" \
  --text "房间又小又脏，服务员态度很差" \
  --text "屏幕清楚，电池不太耐用，总体还行"
echo
echo "Try your own sentences: .venv/bin/python demo/interactive.py work/baseline/convert/x86"
