#!/usr/bin/env bash
# embed.sh FILE SYMBOL: a C source holding FILE's bytes as SYMBOL[] and
# SYMBOL_len, so a binary serves a document without finding it on disk.
set -eu
file=$1 sym=$2
printf '#include <stddef.h>\nconst char %s[] = {\n' "$sym"
od -An -v -tx1 "$file" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
printf '0x00};\nconst size_t %s_len = sizeof(%s) - 1;\n' "$sym" "$sym"
