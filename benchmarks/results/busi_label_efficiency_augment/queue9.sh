#!/bin/bash
# Session 25. pseudo_label (1 round) at 10% with the strong set from the pretrained weights, bootstrapped by
# strong_pretrained's supervised 10% runs (linked into strong_pretrained_pl/runs): is AIDE's gain from
# pretraining AIDE's own? Compare with strong_r2/'s pseudo_label runs (same command without --init-weights).
# Started on the core left free while strong_pretrained's last AIDE run trained. Frozen code: /tmp/venv_snapP.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
BIN=/tmp/venv_snapP/bin
COMMON="--net unet-base --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --init-weights $OUT/pretrain_restore200 --epochs 40 --jobs 1 --methods supervised pseudo_label --fractions 0.1 --seeds 0 1 2 -o $OUT/strong_pretrained_pl > $OUT/strong_pretrained_pl.log 2>&1
# Then (appended while the line above ran; bash ran it next): AIDE after a second bootstrap round, i.e. from these
# pretrained pseudo_label runs (`aide:bootstrap_rounds=2`, as strong_r2/), two runs at a time.
/usr/bin/time -v $BIN/aidemed bench label-efficiency $COMMON $STRONG --init-weights $OUT/pretrain_restore200 --epochs 40 --jobs 2 --methods supervised pseudo_label aide --method-arg aide:bootstrap_rounds=2 --fractions 0.1 --seeds 0 1 2 -o $OUT/strong_pretrained_pl > $OUT/strong_pretrained_r2.log 2>&1
