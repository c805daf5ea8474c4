#!/bin/bash
# session 19: AIDE (AdaBN bootstrap, select=ensemble) with cutmix_area=0.25, cutmix_partners=batch on BUSI -> STU,
# seeds 0-6, into benchmarks/results/busi_to_stu_cutmix_batch/fold{0,1}, and the table against source-only and
# plain AIDE (same configuration without CutMix, same bootstrap runs) over the seeds finished
set -e
source /tmp/venv/bin/activate
cd /work/main
D=/work/scratch/s19/da
N=benchmarks/results/busi_to_stu_cutmix_batch
for f in 0 1; do
  out=$N/fold$f
  mkdir -p $out/runs
  : > $out/commands.txt
  for s in 0 1 2 3 4 5 6; do
    src=$D/aide-ens-mixbatch-f$f-s$s; dst=$out/runs/aide-f1-s$s
    [ -f $src/results.json ] || { echo "not finished: $src"; continue; }
    mkdir -p $dst
    cp $src/config.json $src/metrics.csv $src/metrics.jsonl $src/results.json $src/test_cases.csv $dst/
    grep -- "-o $src\$" $D/commands-f$f.txt | tail -1 >> $out/commands.txt
  done
  aidemed bench table $out > /dev/null
done
E=benchmarks/results/busi_to_stu_ensemble; B=benchmarks/results/busi_to_stu_bootstrap_rounds; R=benchmarks/results/busi_to_stu_heldout_seeds
seeds=$(ls $N/fold0/runs $N/fold1/runs | grep -o 's[0-9]' | sort | uniq -d | tr -d s | paste -sd,)
echo "seeds finished on both folds: $seeds"
python benchmarks/bootstrap_rounds.py --fraction 1 --title "BUSI -> STU: AIDE (AdaBN bootstrap, A+B ensemble) with and without CutMix from the whole batch (cutmix_area=0.25, cutmix_partners=batch), and source-only, seeds $seeds, both folds pooled" \
  "source only=$B/r1_fold0+$B/r1_fold1,$R/fold0+$R/fold1:supervised" \
  "aide, AdaBN bootstrap, ensemble=$E/fold0+$E/fold1,$R/fold0+$R/fold1:aide" \
  "aide + batch CutMix=$N/fold0+$N/fold1:aide" \
  --pairs 'aide + batch CutMix|aide, AdaBN bootstrap, ensemble' 'aide + batch CutMix|source only' 'aide, AdaBN bootstrap, ensemble|source only' -o $N/table
