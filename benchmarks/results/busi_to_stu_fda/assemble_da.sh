#!/bin/bash
# session 22: AIDE (AdaBN bootstrap, select=ensemble) with fda_band=0.04 on BUSI -> STU, and the source-only
# model each run trained as its bootstrap (RUN/bootstrap), into benchmarks/results/busi_to_stu_fda/fold{0,1},
# and the table over the seeds finished on both folds
set -e
source /tmp/venv/bin/activate
cd /work/main
D=/work/scratch/s22/da
N=benchmarks/results/busi_to_stu_fda
for f in 0 1; do
  out=$N/fold$f
  rm -rf $out; mkdir -p $out/runs
  : > $out/commands.txt
  for s in 0 1 2 3 4 5 6; do
    src=$D/aide-fda-f$f-s$s
    [ -f $src/results.json ] || { echo "not finished: $src"; continue; }
    for pair in "$src:aide-f1-s$s" "$src/bootstrap:supervised-f1-s$s"; do
      from=${pair%%:*}; dst=$out/runs/${pair##*:}
      mkdir -p $dst
      cp $from/config.json $from/metrics.csv $from/metrics.jsonl $from/results.json $from/test_cases.csv $dst/
    done
    grep -- "START .* -o $src\$" $D/commands.txt | tail -1 | sed 's/ START / /' >> $out/commands.txt
  done
  aidemed bench table $out > /dev/null
done
seeds=$(ls $N/fold0/runs $N/fold1/runs | grep -o 'aide-f1-s[0-9]' | sort | uniq -d | grep -o '[0-9]$' | paste -sd,)
echo "seeds finished on both folds: $seeds"
python benchmarks/bootstrap_rounds.py --fraction 1 --title "BUSI -> STU: AIDE (AdaBN bootstrap, A+B ensemble) with fda_band=0.04, and the source-only model it bootstrapped from, seeds $seeds, both folds pooled (session 22)" \
  "source only=$N/fold0+$N/fold1:supervised" \
  "aide + FDA=$N/fold0+$N/fold1:aide" \
  --pairs 'aide + FDA|source only' -o $N/table
