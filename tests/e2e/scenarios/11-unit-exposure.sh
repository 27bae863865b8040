# Sourced by tests/e2e/run.sh. The `systemd-analyze security` exposure docs/security.md
# states for each unit is what systemd reports for the installed unit, both for the loaded
# unit and for the unit file analysed offline (as a reviewer without the package would).
section "docs/security.md exposure figures match systemd-analyze security"
while IFS='|' read -r _ unit figure _; do
  unit=$(tr -d ' `' <<<"$unit"); want=$(sed 's/\*//g; s/^ *//; s/ *$//' <<<"$figure")
  [[ $unit == oc-*.service ]] || continue
  loaded=${unit/@.service/@slot1.service}
  online=$(X systemd-analyze security --no-pager "$loaded" | tail -n1 | sed 's/.*: \([0-9.]* [A-Z]*\).*/\1/')
  offline=$(X systemd-analyze security --no-pager --offline=yes "/usr/lib/systemd/system/$unit" | tail -n1 | sed 's/.*: \([0-9.]* [A-Z]*\).*/\1/')
  check "$unit: docs say $want, systemd reports $online" [ "$online" = "$want" ]
  check "$unit: docs say $want, offline analysis of the unit file reports $offline" [ "$offline" = "$want" ]
done < <(grep -E '^\| `oc-[a-z-]+@?\.service` \|' "$ROOT/docs/security.md")
