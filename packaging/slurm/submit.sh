#!/bin/bash
# usage: submit.sh ARCHIVE_OR_MANIFEST OUT_DIR SHARDS [cmrseg batch flags...]
# Submits SHARDS array tasks of cmrseg batch and the merge step after them.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 ARCHIVE_OR_MANIFEST OUT_DIR SHARDS [cmrseg batch flags...]" >&2
    exit 2
fi
in=$1 out=$2 shards=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
array=$(sbatch --parsable --array="1-$shards" --chdir="$out" \
    --export="ALL,CMRSEG_IN=$in,CMRSEG_OUT=$out,CMRSEG_SHARDS=$shards" "$here/cmrseg-batch.sbatch" "$@")
merge=$(sbatch --parsable --dependency="afterany:${array%%;*}" --chdir="$out" \
    --export="ALL,CMRSEG_OUT=$out" "$here/cmrseg-merge.sbatch")
echo "array job $array ($shards shards), merge job $merge"
