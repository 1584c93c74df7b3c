"""The POSIX sh scripts a deployment runs on the node: preflight, arming, the rollback."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from meshtui.ops.deploy.plan import DeployPaths

_ROLLBACK_BODY = r"""
while :; do
  [ -e "$m" ] || { rm -f "$self"; exit 0; }
  rel=$(cat "$d" 2>/dev/null)
  case $rel in ''|*[!0-9]*) rel=0 ;; esac
  set_at=$(date -r "$d" +%s 2>/dev/null) || set_at=0
  [ "$(date +%s)" -ge $((set_at + rel)) ] && break
  sleep 1
done
mv -f "$m" "$m.fired" 2>/dev/null || { rm -f "$self"; exit 0; }
rm -f "$wtmp"
if [ -n "$bak" ]; then
  cp -p "$bak" "$rtmp" && sync && mv -f "$rtmp" "$cfg"
else
  mv -f "$cfg" "$rej"
fi
restore=$?
restart </dev/null >/dev/null 2>&1
rc=$?
if command -v logger >/dev/null 2>&1; then
  logger -t meshtui "deploy $id of $cfg not confirmed: previous config restored" \
    "(restore=$restore restart=$rc)"
fi
printf 'rolled-back %s restore=%s restart=%s\n' "$(date +%s)" "$restore" "$rc" \
  > "$res.tmp" && mv -f "$res.tmp" "$res"
rm -f "$m.fired" "$d" "$self"
"""

ARM_SCRIPT = r"""
n=$1 m=$2 d=$3 info=$4 kind=$5 unit=$6 script=$7
echo "$n" > "$d.tmp" && mv -f "$d.tmp" "$d" || exit 1
printf '%s\n' "$info" > "$m.tmp" && mv -f "$m.tmp" "$m" || exit 1
if [ "$kind" = systemd ]; then
  systemd-run --quiet --unit="$unit" --description="meshtui: roll back unconfirmed babeld config" \
    --on-active="${n}s" --timer-property=AccuracySec=1s /bin/sh "$script" \
    || { rm -f "$m" "$d"; exit 1; }
else
  command -v setsid >/dev/null 2>&1 || { rm -f "$m" "$d"; echo "setsid missing" >&2; exit 1; }
  setsid sh "$script" </dev/null >/dev/null 2>&1 &
fi
echo "armed $(date +%s)"
"""

PREFLIGHT_SCRIPT = r"""
date +%s
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  echo systemd
else
  echo detached
fi
"""


def rollback_script(
    paths: DeployPaths, has_old: bool, deploy_id: str, restart: Sequence[str]
) -> str:
    """The POSIX sh script the node runs to roll back a deployment (written next to the
    config, run by the detached process or the systemd timer).

    Every path and the restart argv are set at the top, each quoted with
    :func:`shlex.quote`; the body then only expands those variables. It waits
    until its deadline (the deadline file's mtime, node clock, plus the seconds it
    holds) while the marker exists, claims
    the marker with an atomic rename (the deployer disarms with an atomic
    unlink: exactly one of them wins), restores the backup by copy + rename (no
    backup: moves the new file aside), restarts, and writes a result line.
    """
    q = shlex.quote
    values = {
        "self": paths.script,
        "m": paths.marker,
        "d": paths.deadline,
        "cfg": paths.config,
        "bak": paths.backup if has_old else "",
        "wtmp": paths.write_tmp,
        "rtmp": paths.restore_tmp,
        "res": paths.result,
        "rej": paths.rejected,
        "id": deploy_id,
    }
    head = [f"# meshtui: roll back deployment {deploy_id} of {paths.config} unless confirmed"]
    head += [f"{name}={q(value)}" for name, value in values.items()]
    head.append(f"restart() {{ {shlex.join(restart)}; }}")
    return "\n".join(head) + "\n" + _ROLLBACK_BODY
