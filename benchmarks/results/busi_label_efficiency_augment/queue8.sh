#!/bin/bash
# Session 25. Self-supervised restoration pretraining (new: `aidemed pretrain`, Models Genesis corruptions) on
# the 453 BUSI training images (no masks read), 200 epochs, then strong/'s sweep with every network started
# from those weights (--init-weights). Frozen code: a non-editable install of the commit that added
# `aidemed pretrain`, in /tmp/venv_snapP. Compare with strong/ (same command without --init-weights).
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
BIN=/tmp/venv_snapP/bin
/usr/bin/time -v $BIN/aidemed pretrain --data /work/data/busi --net unet-base --epochs 200 --seed 0 --threads 2 --cpu-bf16 --compile --channels-last -o $OUT/pretrain_restore200 > $OUT/pretrain_restore200.log 2>&1 || exit 1
COMMON="--net unet-base --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --init-weights $OUT/pretrain_restore200 --epochs 40 --jobs 2 --methods supervised aide --fractions 0.1 1.0 --seeds 0 1 2 -o $OUT/strong_pretrained > $OUT/strong_pretrained.log 2>&1
