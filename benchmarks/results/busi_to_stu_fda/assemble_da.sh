#!/bin/bash
# session 22: AIDE (AdaBN bootstrap, select=ensemble) with fda_band=0.04 on BUSI -> STU, and the source-only
# model each run trained as its bootstrap (RUN/bootstrap), into benchmarks/results/busi_to_stu_fda/fold{0,1};
# plain AIDE from the same bootstrap (queue_plain.sh) into plain_fold{0,1}; the table over the seeds finished
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
  out=$N/plain_fold$f
  rm -rf $out; mkdir -p $out/runs
  : > $out/commands.txt
  for s in 0 1 2 3 4 5 6; do
    src=$D/aide-plain-f$f-s$s; dst=$out/runs/aide-f1-s$s
    [ -f $src/results.json ] || continue
    mkdir -p $dst
    cp $src/config.json $src/metrics.csv $src/metrics.jsonl $src/results.json $src/test_cases.csv $dst/
    grep -- "START .* -o $src\$" $D/commands.txt | tail -1 | sed 's/ START / /' >> $out/commands.txt
  done
  if [ -n "$(ls $out/runs)" ]; then aidemed bench table $out > /dev/null; fi
done
seeds=$(ls $N/fold0/runs $N/fold1/runs | grep -o 'aide-f1-s[0-9]' | sort | uniq -d | grep -o '[0-9]$' | paste -sd,)
echo "seeds finished on both folds (FDA): $seeds"
python benchmarks/bootstrap_rounds.py --fraction 1 --title "BUSI -> STU: AIDE (AdaBN bootstrap, A+B ensemble) with fda_band=0.04, plain AIDE from the same bootstrap, and that source-only model, seeds $seeds, both folds pooled (session 22)" \
  "source only=$N/fold0+$N/fold1:supervised" \
  "aide + FDA=$N/fold0+$N/fold1:aide" \
  "aide=$N/plain_fold0+$N/plain_fold1:aide" \
  --pairs 'aide + FDA|source only' 'aide|source only' 'aide + FDA|aide' -o $N/table
