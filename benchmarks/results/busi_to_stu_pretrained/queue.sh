#!/bin/bash
# Session 25, a one-seed pilot. BUSI -> STU with restoration pretraining that also sees the target site:
# per fold, `aidemed pretrain` on the 453 BUSI training images plus the fold's 20 unlabelled STU training
# images listed 10 times (--extra-data, as the x10 target-labelled reference), 100 epochs; then AIDE
# (AdaBN bootstrap, select=ensemble: the session-22 `plain_fold*` recipe, fp32) with every network, its
# source-only bootstrap included, started from those weights. Seed 0, both folds side by side.
# Frozen code: a non-editable install of the session's HEAD in /tmp/venv_snapQ.
set -x
OUT=/work/main/benchmarks/results/busi_to_stu_pretrained
BIN=/tmp/venv_snapQ/bin
for fold in 0 1; do
  STU=/work/data/stu-fold$fold
  /usr/bin/time -v $BIN/aidemed pretrain --data /work/data/busi --extra-data $STU $STU $STU $STU $STU $STU $STU $STU $STU $STU --net unet-base --epochs 100 --seed 0 --threads 1 --compile --channels-last --quiet -o $OUT/pretrain_fold$fold > $OUT/pretrain_fold$fold.log 2>&1 &
done
wait
for fold in 0 1; do
  /usr/bin/time -v $BIN/aidemed train --method aide --net unet-base --epochs 40 --threads 1 --quiet --compile --channels-last --data /work/data/busi --setting domain-adaptation --labelled-fraction 1.0 --seed 0 --target-data /work/data/stu-fold$fold --method-arg bootstrap_adapt_bn=true --method-arg select=ensemble --init-weights $OUT/pretrain_fold$fold -o $OUT/fold$fold/runs/aide-f1-s0 > $OUT/aide_fold$fold.log 2>&1 &
done
wait
