#!/bin/bash
# Strong augmentation + a second bootstrap round (supervised -> pseudo_label -> AIDE, as session 12's 2-round
# runs) at 10%, from the strong sweep's supervised runs (linked into strong_r2/runs). Seeds 0-1 start when
# the default sweep's supervised runs have ended, seed 2 when its AIDE runs have.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
COMMON="--net unet-base --epochs 40 --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi --jobs 1 --methods pseudo_label aide --fractions 0.1 --method-arg aide:bootstrap_rounds=2"
STRONG="--augment rotate_degrees=30 --augment scale_range=[0.75,1.33] --augment affine_prob=0.9 --augment intensity_prob=0.8 --augment intensity_scale=0.25 --augment intensity_shift=0.25 --augment gamma_range=[0.7,1.5] --augment noise_std=0.1"
while [ ! -f $OUT/default/runs/supervised-f1-s2/results.json ]; do sleep 20; done
/usr/bin/time -v aidemed bench label-efficiency $COMMON $STRONG --seeds 0 1 -o $OUT/strong_r2 > $OUT/strong_r2_s01.log 2>&1 &
while [ ! -f $OUT/default/runs/aide-f0.1-s2/results.json ]; do sleep 20; done
/usr/bin/time -v aidemed bench label-efficiency $COMMON $STRONG --seeds 2 -o $OUT/strong_r2 > $OUT/strong_r2_s2.log 2>&1
wait
