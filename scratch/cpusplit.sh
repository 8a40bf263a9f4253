#!/bin/bash
# usage: cpusplit.sh url token
url=$1; tok=$2
cpu_of() { ps -C "$1" -o cputimes= 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
ticks() { local t=0; for p in $(pgrep -f "$1"); do read -r _ _ _ _ _ _ _ _ _ _ _ _ _ u s _ < /proc/$p/stat 2>/dev/null && t=$((t+u+s)); done; echo $t; }
pg0=$(ticks "postgres: "); nd0=$(ticks "kernel-server"); 
out=$(npx autocannon -c 10 -d 10 -j ${tok:+-H "authorization=Bearer $tok"} "$url" 2>/dev/null)
pg1=$(ticks "postgres: "); nd1=$(ticks "kernel-server")
reqs=$(echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['requests']['total'])")
python3 -c "
r=$reqs; hz=100
print(f'requests {r}  rps {r/10:.0f}  node {($nd1-$nd0)/hz*1e6/r:.0f} us/req  postgres {($pg1-$pg0)/hz*1e6/r:.0f} us/req')"
