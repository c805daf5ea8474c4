#!/bin/bash
# Session 24. Run from a frozen copy of the code (a non-editable install of the session-start commit in
# /tmp/venv_snap) so that editing the working tree cannot change runs mid-sweep.
#  strong_e100/: the strong set with 100 epochs (supervised 10% and 100%, AIDE 10%, seeds 0-2), --jobs 2
#  strong/:      mean_teacher and cps at 10% with the strong set, 40 epochs, added to the strong sweep, --jobs 1
# Both start at once: up to three runs share the two cores.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
BIN=/tmp/venv_snap/bin
COMMON="--net unet-base --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --epochs 100 --jobs 2 --methods supervised aide --fractions 0.1 1.0 --seeds 0 1 2 -o $OUT/strong_e100 > $OUT/strong_e100.log 2>&1 &
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --epochs 40 --jobs 1 --methods mean_teacher cps --fractions 0.1 --seeds 0 1 2 -o $OUT/strong > $OUT/strong_mt_cps.log 2>&1 &
wait
