#!/usr/bin/env bash
# Checks that install-test-tools.sh leaves alone a Prometheus the developer runs, and leaves no
# server running that the package's install would start. Run by hand, as root, where mount and
# PID namespaces are allowed: the checks run in fresh ones, so no process outside is seen or
# signalled and /usr/sbin is a scratch tmpfs. apt-get is a stub that plays the package's
# postinst (start the service unless policy-rc.d answers 101): nothing is installed.
#   usage: install-test-tools-check.sh [script to check]
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
script=$(realpath "${1:-$(dirname "$0")/install-test-tools.sh}")
exec unshare --mount --pid --fork --mount-proc bash -s "$script" <<'CHECK'
script=$1
work=$(mktemp -d)
mkdir "$work/bin" "$work/own" "$work/service"
cp "$(command -v sleep)" "$work/own/prometheus"
cp "$(command -v sleep)" "$work/service/prometheus"
cat > "$work/bin/apt-get" <<STUB
#!/bin/sh
[ "\$1" = install ] || exit 0
if [ -x /usr/sbin/policy-rc.d ]; then
  /usr/sbin/policy-rc.d prometheus start
  [ \$? = 101 ] && exit 0
fi
setsid "$work/service/prometheus" 600 </dev/null >/dev/null 2>&1 &
# as a service start does, return once the server runs
tries=0
while [ "\$(cat /proc/\$!/comm 2>/dev/null)" != prometheus ] && [ \$tries -lt 500 ]; do
  sleep 0.01
  tries=\$((tries + 1))
done
exit 0
STUB
chmod 755 "$work/bin/apt-get"
mount -t tmpfs scratch /usr/sbin
# the script runs on a PATH of the stub and every command but promtool, so it installs the prometheus package
mkdir "$work/path"
for f in /usr/local/bin/* /usr/bin/* /bin/*; do
  [ "${f##*/}" = promtool ] || [ -L "$work/path/${f##*/}" ] || ln -s "$f" "$work/path/"
done

alive() {
  [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"
}
others_alive() {
  for pid in $(pgrep -x prometheus); do
    [ "$pid" != "$1" ] && alive "$pid" && return 0
  done
  return 1
}
failures=0
check() {
  local policy=$1 own before
  rm -f /usr/sbin/policy-rc.d
  if [ "$policy" != none ]; then
    printf '#!/bin/sh\n%s\n' "$policy" > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  before=$(cat /usr/sbin/policy-rc.d 2>/dev/null)
  "$work/own/prometheus" 600 </dev/null &
  own=$!
  PATH="$work/bin:$work/path" bash "$script" </dev/null >/dev/null
  local deadline=$((SECONDS + 10))
  while others_alive "$own" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  local problems=()
  alive "$own" || problems+=("the developer's Prometheus was killed")
  others_alive "$own" && problems+=("the server the install started still runs")
  [ "$(cat /usr/sbin/policy-rc.d 2>/dev/null)" = "$before" ] || problems+=("policy-rc.d was left changed")
  if [ ${#problems[@]} -eq 0 ]; then
    echo "policy-rc.d before the install: $policy; ok"
  else
    echo "policy-rc.d before the install: $policy; FAILED: $(IFS=';'; echo "${problems[*]}")"
    failures=$((failures + 1))
  fi
  # nothing left for the next check: in these namespaces every prometheus is this check's
  pkill -x prometheus
  wait "$own" 2>/dev/null
  deadline=$((SECONDS + 10))
  while others_alive none && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
}
check none
check "exit 0"
check "exit 101"
rm -rf "$work"
exit $((failures > 0))
CHECK
