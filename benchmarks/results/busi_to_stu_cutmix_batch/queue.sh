#!/bin/bash
# one fold's AIDE runs with DACS-style CutMix, seeds 0..6, skipping finished ones
fold=$1
export PYTHONPATH=/work/s19code
boot() {  # the source-only run of this fold and seed (sessions 15-17)
  local s=$1
  if [ $s -le 2 ]; then [ $fold = 0 ] && echo /work/scratch/s15/da/supervised-s$s || echo /work/scratch/s15/da/supervised-f1-s$s
  elif [ $s -le 4 ]; then echo /work/scratch/s16/da/supervised-f$fold-s$s
  else echo /work/scratch/s17/da/supervised-f$fold-s$s; fi
}
for s in 0 1 2 3 4 5 6; do
  out=/work/scratch/s19/da/aide-ens-mixbatch-f$fold-s$s
  [ -f $out/results.json ] && continue
  rm -rf $out
  cmd="aidemed train --method aide --net unet-base --epochs 40 --threads 1 --quiet --compile --channels-last --data /work/data/busi --setting domain-adaptation --labelled-fraction 1.0 --seed $s --target-data /work/data/stu-fold$fold --method-arg bootstrap_adapt_bn=true --method-arg select=ensemble --method-arg cutmix_area=0.25 --method-arg cutmix_partners=batch --method-arg bootstrap_run=$(boot $s) -o $out"
  echo "$(date '+%F %T')  $cmd" >> /work/scratch/s19/da/commands-f$fold.txt
  /tmp/venv/bin/$cmd > $out.log 2>&1
done
