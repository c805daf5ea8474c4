#!/bin/bash
# Session 24. queue4.sh's mean_teacher/cps sweep into strong/ was stopped (SIGTERM at mean_teacher seed 0,
# epoch 35 of 40) so that the other sweeps had the cores; seed 0 only resumes here (from last.pt) once
# queue6.sh's sweep has finished. Seeds 1-2 are left for a later session.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
BIN=/tmp/venv_snap/bin
COMMON="--net unet-base --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
while [ ! -f $OUT/strong_ema/runs/aide-f0.1-s2/results.json ]; do sleep 20; done
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --epochs 40 --jobs 1 --methods mean_teacher cps --fractions 0.1 --seeds 0 -o $OUT/strong >> $OUT/strong_mt_cps.log 2>&1
