#!/bin/bash
# gate: wait (max 60 s) until the whole machine is < 15 % busy over 1 s; log the busy % seen
for i in $(seq 1 60); do
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat; sleep 1
  read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat
  busy=$(( (u2+n2+s2+q2+sq2+st2-u1-n1-s1-q1-sq1-st1) )); tot=$(( busy + i2+w2-i1-w1 ))
  pct=$(( 100*busy/ (tot>0?tot:1) ))
  if [ $pct -lt 15 ]; then echo "gate: ${pct}% busy after ${i}s" >&2; exit 0; fi
done
echo "gate: still ${pct}% busy after 60s, running anyway" >&2
