#!/usr/bin/env bash
# The GPU proof in one call, for a lent GPU machine with no network and no install step:
#
#     bash benchmarks/gpu_session.sh OUTDIR
#
# Runs ptenv from this source tree (PYTHONPATH=src) with that machine's python3 (or $PYTHON),
# which must already hold torch and ptenv's dependencies. Writes into OUTDIR: doctor.json
# (real NVML) with its cold and warm wall times, plan.json, check-cold.json / check-warm.json
# (+ JUnit) and check-eager.json, gpu-figures.json, check-nproc.json with 2+ GPUs, the raw
# driver files ptenv's fallbacks read, and summary.txt (one line per step). Every step has
# its own timeout and all of them share a 330 s budget. Without a GPU every GPU step says
# "no GPU" and the script still exits 0.
set -u

out=${1:?usage: gpu_session.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ptenv-gpu-session.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
summary="$out/summary.txt"
: > "$summary"
budget_end=$(( $(date +%s) + 330 ))

say() { echo "$*" | tee -a "$summary"; }

# step NAME LIMIT_S OUTFILE COMMAND...: run with the smaller of its limit and what is left.
step() {
    local name=$1 limit=$2 file=$3
    shift 3
    local left=$(( budget_end - $(date +%s) ))
    if (( left < 5 )); then
        say "$name: skipped (the session's 330 s budget is spent)"
        return 124
    fi
    (( limit > left )) && limit=$left
    local began ended rc
    began=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" > "$file" 2> "$out/$name.stderr"
    rc=$?
    ended=$(date +%s.%N)
    local seconds
    seconds=$(awk -v a="$began" -v b="$ended" 'BEGIN { printf "%.2f", b - a }')
    echo "$seconds" > "$out/$name.seconds"
    if (( rc == 124 || rc == 137 )); then
        say "$name: timed out after ${limit} s"
    else
        say "$name: exit $rc in ${seconds} s"
    fi
    return "$rc"
}

json_field() {  # json_field FILE EXPRESSION: print a value from a JSON document, or nothing
    "$python" - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
document = json.load(open(sys.argv[1], encoding="utf-8"))
value = eval(sys.argv[2], {}, {"d": document})  # the fixed expressions of this script
print("" if value is None else value)
PY
}

say "ptenv GPU session: $(date -u +%Y-%m-%dT%H:%M:%SZ) · $("$python" --version 2>&1) · $(uname -srm)"
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' \
    > "$out/torch.txt" 2>&1 || echo "torch not importable" > "$out/torch.txt"
say "interpreter: $(cat "$out/torch.txt")"

# The raw files ptenv's fallbacks parse, kept as fixtures.
for source in /proc/driver/nvidia/version /sys/module/nvidia/version; do
    [ -r "$source" ] && cp "$source" "$out/$(echo "$source" | tr / _ | sed 's/^_//')"
done
if command -v nvidia-smi > /dev/null; then
    step nvidia-smi 30 "$out/nvidia-smi-query.csv" nvidia-smi \
        --query-gpu=index,name,uuid,pci.bus_id,driver_version,compute_cap,memory.total,memory.used,persistence_mode \
        --format=csv,noheader,nounits
else
    say "nvidia-smi: not on PATH"
fi

step doctor-cold 60 "$out/doctor.json" "$python" -m ptenv doctor --json
step doctor-warm 60 "$out/doctor-warm.json" "$python" -m ptenv doctor --json
step plan 60 "$out/plan.json" "$python" -m ptenv plan --json

gpus=$(json_field "$out/doctor.json" 'd["machine"]["nvidia"]["visible_gpu_count"]')
gpus=${gpus:-0}
if (( gpus == 0 )); then
    for name in check-cold check-warm check-eager gpu-figures check-nproc; do
        say "$name: no GPU (doctor sees none; nothing to measure)"
    done
    say "done: no GPU on this machine"
    exit 0
fi
say "GPUs visible: $gpus ($(json_field "$out/doctor.json" 'd["machine"]["nvidia"]["gpus"][0]["name"]'))"

# A venv over this interpreter's packages: ptenv checks venvs, the machine has no network.
"$python" -m venv --system-site-packages --without-pip "$work/venv"
cache="$work/compile-cache"
check() {  # check NAME LIMIT ARGS...
    local name=$1 limit=$2
    shift 2
    step "$name" "$limit" "$out/$name.json" "$python" -m ptenv check --venv "$work/venv" \
        --device cuda --json --timeout $(( limit - 10 )) --cache-dir "$cache" "$@"
}
check check-cold 150 --junit "$out/check-cold.junit.xml"
check check-warm 90 --junit "$out/check-warm.junit.xml"
check check-eager 60 --no-compile
step gpu-figures 120 "$out/gpu-figures.stdout" "$work/venv/bin/python" \
    "$root/benchmarks/gpu_figures.py" --out "$out/gpu-figures.json"
if (( gpus >= 2 )); then
    check check-nproc 120 --nproc "$gpus"
else
    say "check-nproc: one GPU, so no NCCL all_reduce to measure"
fi
say "done: $(json_field "$out/check-cold.json" '"check ok" if d["ok"] else "check FAILED"')"
exit 0
