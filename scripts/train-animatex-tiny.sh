#!/usr/bin/env bash
# Train animatex-tiny from scratch (docs/animatex-tiny.md): data, VAE, then the rest. Run from the repository root.
#   scripts/train-animatex-tiny.sh [VAE_SECONDS] [TRAIN_SECONDS] [extra `animatex train-vae` options...]
# The two limits (default 0: none, i.e. the config's step counts) stop each stage after the step that passes them;
# the model card records the steps each stage ran. Outputs: runs/animatex-tiny/{vae/,pipeline/,log.csv,loss.png}.
set -euo pipefail
PY=${PYTHON:-python3}
VAE_SECONDS=${1:-0}
TRAIN_SECONDS=${2:-0}
shift $(( $# < 2 ? $# : 2 ))
CONFIG=configs/animatex-tiny.yaml
# Held-out training characters: synth seed 1 (the evaluation benchmark `synth` is seed 0).
if [ ! -f data/synth-train/manifest.json ]; then
  "$PY" -c 'from a2bench.cli import main; main()' bench make synth --out data/synth-train --seed 1 \
    --samples 64 --frames 36 --workers "$(nproc)"
fi
"$PY" -m animatex.cli train-vae --config "$CONFIG" --set vae.max_seconds="$VAE_SECONDS" "$@"
"$PY" -m animatex.cli train --config "$CONFIG" --set train.max_seconds="$TRAIN_SECONDS"
