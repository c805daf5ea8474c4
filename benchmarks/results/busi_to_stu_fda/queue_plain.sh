#!/bin/bash
# One worker: plain AIDE (AdaBN bootstrap, select=ensemble, no FDA) from the source-only model that the
# fda_band run of the same (seed, fold) trained as its bootstrap, so the pair differs only by fda_band.
root=/work/scratch/s22/da
for s in 0 1 2 3; do
  for fold in 0 1; do
    out=$root/aide-plain-f$fold-s$s
    mkdir $root/claim-plain-f$fold-s$s 2>/dev/null || continue
    [ -f $out/results.json ] && continue
    cmd="aidemed train --method aide --net unet-base --epochs 40 --threads 1 --quiet --compile --channels-last --data /work/data/busi --setting domain-adaptation --labelled-fraction 1.0 --seed $s --target-data /work/data/stu-fold$fold --method-arg bootstrap_adapt_bn=true --method-arg select=ensemble --method-arg bootstrap_run=$root/aide-fda-f$fold-s$s/bootstrap -o $out"
    echo "$(date '+%F %T') START $cmd" >> $root/commands.txt
    /tmp/venv/bin/$cmd > $out.log 2>&1
    echo "$(date '+%F %T') END rc=$? $out" >> $root/commands.txt
  done
done
