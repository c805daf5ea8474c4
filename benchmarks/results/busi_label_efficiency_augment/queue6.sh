#!/bin/bash
# Session 24. The strong set with --weight-ema 0.99 (an average of each network's weights validated as a
# further candidate; new this session), 40 epochs, otherwise strong/'s command. Frozen code: a non-editable
# install of the commit that added --weight-ema, in /tmp/venv_snap2. Runs beside queue4.sh's 100-epoch sweep
# (up to four runs share the two cores).
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
BIN=/tmp/venv_snap2/bin
COMMON="--net unet-base --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --weight-ema 0.99 --epochs 40 --jobs 2 --methods supervised aide --fractions 0.1 1.0 --seeds 0 1 2 -o $OUT/strong_ema > $OUT/strong_ema.log 2>&1
