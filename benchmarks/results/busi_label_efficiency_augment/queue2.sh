#!/bin/bash
# Replaces queue.sh's second line (killed before it began): the default-augmentation sweep in two parts so both
# cores stay busy while the strong sweep's last AIDE run finishes: supervised runs now, one at a time; AIDE
# (bootstrapping from those supervised 10% runs) once the strong sweep has ended.
set -x
OUT=/work/main/benchmarks/results/busi_label_efficiency_augment
COMMON="--net unet-base --epochs 40 --threads 1 --cpu-bf16 --quiet --compile --channels-last --data /work/data/busi --seeds 0 1 2"
/usr/bin/time -v aidemed bench label-efficiency $COMMON --jobs 1 --methods supervised --fractions 0.1 1.0 -o $OUT/default > $OUT/default_supervised.log 2>&1 &
while kill -0 23024 2>/dev/null; do sleep 20; done
while [ ! -f $OUT/default/runs/supervised-f0.1-s2/results.json ]; do sleep 20; done
/usr/bin/time -v aidemed bench label-efficiency $COMMON --jobs 1 --methods aide --fractions 0.1 -o $OUT/default > $OUT/default_aide.log 2>&1
wait
