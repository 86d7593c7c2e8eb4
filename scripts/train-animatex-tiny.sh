#!/usr/bin/env bash
# Train animatex-tiny (docs/animatex-tiny.md): data, VAE, then the rest. Run from the repository root.
#   [STAGES="vae train"] [SAMPLES=128] [STILL=0.5] [VAE_SECONDS=0] [TRAIN_SECONDS=0] scripts/train-animatex-tiny.sh
#   [--set K=V ...]
# STAGES picks the stages (the data is made when missing). The two time limits (0: none, i.e. the config's step
# counts) stop a stage after the step that passes them; the model card records the steps each stage ran. The
# arguments are `--set SECTION.KEY=VALUE` overrides given to both stages (each uses its own sections).
# Outputs: runs/animatex-tiny/{vae/,pipeline/,log.csv,loss.png}.
set -euo pipefail
PY=${PYTHON:-python3}
STAGES=${STAGES:-vae train}
SAMPLES=${SAMPLES:-128}
STILL=${STILL:-0.5}  # the fraction of moving scenes frozen and prompted still (the TI2V task's prompt signal)
CONFIG=configs/animatex-tiny.yaml
# Held-out training characters: synth seed 1 (the evaluation benchmark `synth` is seed 0).
if [ ! -f data/synth-train/manifest.json ]; then
  "$PY" -c 'from a2bench.cli import main; main()' bench make synth --out data/synth-train --seed 1 \
    --samples "$SAMPLES" --frames 36 --still "$STILL" --workers "$(nproc)"
fi
case " $STAGES " in *" vae "*)
  "$PY" -m a2bench.animatex.cli train-vae --config "$CONFIG" --set vae.max_seconds="${VAE_SECONDS:-0}" "$@" ;;
esac
case " $STAGES " in *" train "*)
  "$PY" -m a2bench.animatex.cli train --config "$CONFIG" --set train.max_seconds="${TRAIN_SECONDS:-0}" "$@" ;;
esac
