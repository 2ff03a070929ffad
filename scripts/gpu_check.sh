#!/usr/bin/env bash
# GPU check: train the reference EN→DE preset (conf/translate_en_de.yaml) for a few epochs on CUDA with
# bf16 autocast, then print training tokens/s and test_2016_flickr BLEU, greedy and beam 5.
#
#   scripts/gpu_check.sh prepare        here, with the project installed: writes .gpu-check/ (the prepared
#                                       stages, the Multi30k EN/DE text, wheels of pydantic for Python 3.12)
#   scripts/gpu_check.sh run [EPOCHS]   on the CUDA machine, from the repository root (default 3 epochs);
#                                       needs only python3 with torch, numpy, pyyaml, sacrebleu, tqdm and
#                                       matplotlib: no spaCy, no Ray. Logs and summary.json go to ${OUT:-data/gpu_check}.
#
# Carry .gpu-check with the working tree (about 20 MB). Checkpoints stay in /tmp (large, not needed back).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.gpu-check
PY=${PYTHON:-python3}

prepare() {
    local venv=${VENV:-.venv}
    rm -rf "$BUNDLE.tmp" && mkdir -p "$BUNDLE.tmp/stages" "$BUNDLE.tmp/datasets/multi30k/data/task1/raw" "$BUNDLE.tmp/wheels"
    # the five stages the reference preset reads (text, subwords, ids), as `pipeline prepare` names them
    "$venv/bin/pipeline" prepare conf/translate_en_de.yaml 2>&1 | tee "$BUNDLE.tmp/prepare.log"
    grep -o '\] \(up to date\|building\):\? [^ ]*' "$BUNDLE.tmp/prepare.log" | awk '{print $NF}' | sort -u |
        while read -r stage; do cp -r "$stage" "$BUNDLE.tmp/stages/"; done
    [ "$(ls "$BUNDLE.tmp/stages" | wc -l)" -eq 5 ] || { echo "expected 5 stages, got: $(ls "$BUNDLE.tmp/stages")" >&2; exit 1; }
    cp "${PIPELINE_DATASETS:?set PIPELINE_DATASETS to the datasets folder}"/multi30k/data/task1/raw/*.{en,de}.gz \
        "$BUNDLE.tmp/datasets/multi30k/data/task1/raw/"
    # pydantic is the one import the CUDA image lacks on this path; its wheels at the versions used here
    local pkgs
    pkgs=$("$venv/bin/python" -c "import importlib.metadata as m; print(' '.join(f'{n}=={m.version(n)}' for n in ('pydantic', 'pydantic-core', 'annotated-types', 'typing-inspection')))")
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$BUNDLE.tmp/wheels" $pkgs
    rm -rf "$BUNDLE" && mv "$BUNDLE.tmp" "$BUNDLE"
    du -sh "$BUNDLE"
    echo "carry: $BUNDLE   then on the GPU machine: scripts/gpu_check.sh run"
}

run() {
    local epochs=${1:-3} out=${OUT:-data/gpu_check} work=${GPU_CHECK_WORK:-/tmp/gpu_check}
    [ -d "$BUNDLE/stages" ] || { echo "no $BUNDLE/: run 'scripts/gpu_check.sh prepare' on the CPU machine first" >&2; exit 1; }
    mkdir -p "$out" "$work"
    if ! "$PY" -c "import pydantic" 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" "$BUNDLE"/wheels/*.whl
        export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PIPELINE_DATASETS="$PWD/$BUNDLE/datasets" PYTHONUNBUFFERED=1
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee "$out/train.log"
    local device=${GPU_CHECK_DEVICE:-cuda} precision=${GPU_CHECK_PRECISION:-bf16}
    rm -rf "$work/en_de"
    "$PY" -m pipeline.cli train conf/translate_en_de.yaml run.dir="$work/en_de" run.stages="$BUNDLE/stages" \
        train.device="$device" train.precision="$precision" train.max_epochs="$epochs" \
        train.early_stopping_patience=100 train.keep_last=0 ${GPU_CHECK_SET:-} 2>&1 | tee -a "$out/train.log"
    cp "$work/en_de/metrics.jsonl" "$out/"
    "$PY" scripts/gpu_check_eval.py "$work/en_de" --device "$device" | tee "$out/summary.json"
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 prepare | run [EPOCHS]" >&2; exit 2 ;;
esac
