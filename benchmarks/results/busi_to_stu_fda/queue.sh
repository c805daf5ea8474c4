#!/bin/bash
# One worker: takes the next unclaimed (seed, fold) of BUSI -> STU and trains AIDE with fda_band=0.04.
# Each run trains its own source-only bootstrap model (RUN/bootstrap), the source-only baseline of its pair.
root=/work/scratch/s22/da
for s in 0 1 2 3 4 5 6; do  # session 22: seeds 4-6 were claimed by hand (not run) to pair seeds 0-3 with plain AIDE instead
  for fold in 0 1; do
    out=$root/aide-fda-f$fold-s$s
    mkdir $root/claim-f$fold-s$s 2>/dev/null || continue
    [ -f $out/results.json ] && continue
    cmd="aidemed train --method aide --net unet-base --epochs 40 --threads 1 --quiet --compile --channels-last --data /work/data/busi --setting domain-adaptation --labelled-fraction 1.0 --seed $s --target-data /work/data/stu-fold$fold --method-arg bootstrap_adapt_bn=true --method-arg select=ensemble --method-arg fda_band=0.04 -o $out"
    echo "$(date '+%F %T') START $cmd" >> $root/commands.txt
    /tmp/venv/bin/$cmd > $out.log 2>&1
    echo "$(date '+%F %T') END rc=$? $out" >> $root/commands.txt
  done
done
