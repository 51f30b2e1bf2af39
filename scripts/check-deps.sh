#!/usr/bin/env bash
# Enforce design.md section 5: a module includes only modules below it.
# Order (low to high): lib < nat,sim,tunnel < datapath,bgp,store < api < agent,cli < gateway
set -u
cd "$(dirname "$0")/.."
rank() {
  case $1 in
    lib) echo 0 ;; nat|sim|tunnel) echo 1 ;; datapath|bgp|store) echo 2 ;;
    api) echo 3 ;; agent|cli) echo 4 ;; gateway) echo 5 ;; *) echo -1 ;;
  esac
}
bad=0
for m in lib nat sim tunnel datapath bgp store api gateway agent cli; do
  [ -d "$m" ] || continue
  r=$(rank "$m")
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -n 's/.*#include "\([a-z_]*\)\/.*/\1/p' <<<"$line")
    [ -n "$inc" ] || continue
    [ "$inc" = "$m" ] && continue
    ri=$(rank "$inc")
    # sim may use nat (same tier, one direction only).
    if [ "$ri" -ge "$r" ] && ! { [ "$m" = sim ] && [ "$inc" = nat ]; }; then
      echo "check-deps: $file includes $inc/, which is not below $m/"; bad=1
    fi
  done < <(grep -Hn '#include "' "$m"/*.c "$m"/*.h 2>/dev/null)
done
[ $bad -eq 0 ] && echo "check-deps: ok"
exit $bad
