#!/bin/bash
# Session 23: supervised (10%, 100%) and AIDE (10%) with the default and a stronger training augmentation,
# seeds 0-2, two runs at a time on one thread each (bf16, compiled, channels-last). Strong set fixed before any run.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
COMMON="--net unet-base --epochs 40 --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi --jobs 2 --methods supervised aide --fractions 0.1 1.0 --seeds 0 1 2"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
/usr/bin/time -v aidemed bench label-efficiency $COMMON $STRONG -o $OUT/strong > $OUT/strong.log 2>&1
/usr/bin/time -v aidemed bench label-efficiency $COMMON -o $OUT/default > $OUT/default.log 2>&1
