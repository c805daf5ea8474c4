#!/bin/bash
# Assemble the CPU noisy-mask comparison (mixed_strong 0/25/50/75%) from the session-6/7 run folders.
set -e
RR=/work/main/benchmarks/results
D=$RR/busi_noisy_strong_cpu
rm -rf $D/noise0 $D/noise25 $D/noise50 $D/noise75 $D/table $D/variants; mkdir -p $D/noise0/runs $D/noise50/runs
cp_run() { mkdir -p "$2"; (cd "$1" && tar cf - --exclude=./checkpoints --exclude=./bootstrap --exclude="./audit*/gallery*" --exclude="./audit*/crossfit" .) | (cd "$2" && tar xf -); }
for r in supervised-f1-s0 supervised-f1-s1 supervised-f1-s2 coteaching-f1-s0 coteaching-f1-s1 coteaching-f1-s2; do
  [ -d $RR/busi_noisy_mixed0/runs/$r ] && [ -f $RR/busi_noisy_mixed0/runs/$r/results.json ] && cp_run $RR/busi_noisy_mixed0/runs/$r $D/noise0/runs/$r
done
for s in 0 1 2; do
  r=/work/scratch/diag/std_clean_floor05_nocorr/runs/aide-f1-s$s; [ -f $r/results.json ] && cp_run $r $D/noise0/runs/aide-f1-s$s
  r=/work/scratch/diag/std_strong50_floor05_nocorr/runs/aide-f1-s$s; [ -f $r/results.json ] && cp_run $r $D/noise50/runs/aide-f1-s$s
  r=/work/scratch/diag/std_strong50_sup/runs/supervised-f1-s$s; [ -f $r/results.json ] && cp_run $r $D/noise50/runs/supervised-f1-s$s
  r=/work/scratch/diag/std_strong50_coteaching/runs/coteaching-f1-s$s; [ -f $r/results.json ] && cp_run $r $D/noise50/runs/coteaching-f1-s$s
done
for lvl in 25 75; do
  for m in aide sup coteaching; do
    for r in /work/scratch/diag/std_strong${lvl}_$m/runs/*; do [ -f $r/results.json ] && cp_run $r $D/noise$lvl/runs/$(basename $r) || true; done
  done
  [ -d $D/noise$lvl ] && { for m in aide sup coteaching; do f=/work/scratch/diag/std_strong${lvl}_$m; [ -f $f/commands.txt ] && grep -h "aidemed" $f/commands.txt; done; } > $D/noise$lvl/commands.txt
done
{ for f in $RR/busi_noisy_mixed0 /work/scratch/diag/std_clean_floor05_nocorr; do grep -h "aidemed" $f/commands.txt; done; } > $D/noise0/commands.txt
{ for f in /work/scratch/diag/std_strong50_floor05_nocorr /work/scratch/diag/std_strong50_sup /work/scratch/diag/std_strong50_coteaching; do [ -f $f/commands.txt ] && grep -h "aidemed" $f/commands.txt; done; } > $D/noise50/commands.txt
cd /work/main
D=benchmarks/results/busi_noisy_strong_cpu  # relative from here on: the tables name their sources
/tmp/venv/bin/aidemed bench table $D/noise0 > /dev/null
/tmp/venv/bin/aidemed bench table $D/noise50 > /dev/null
LEVELS="0=$D/noise0"
for lvl in 25 50 75; do
  [ -d $D/noise$lvl ] || continue
  [ $lvl = 50 ] || /tmp/venv/bin/aidemed bench table $D/noise$lvl > /dev/null
  LEVELS="$LEVELS 0.$lvl=$D/noise$lvl"
done
/tmp/venv/bin/aidemed bench robustness-table --noise $LEVELS -o $D/table > /dev/null
# the gate variant and the ungated-correction run, for the comparison in docs/robustness.md
mkdir -p $D/variants
for v in std_strong50_floor05_gate08; do rm -rf $D/variants/$v; mkdir -p $D/variants/$v; (cd /work/scratch/diag/$v && tar cf - --exclude=checkpoints .) | (cd $D/variants/$v && tar xf -); /tmp/venv/bin/aidemed bench table $D/variants/$v > /dev/null; done
ls $D $D/noise0/runs $D/noise50/runs
