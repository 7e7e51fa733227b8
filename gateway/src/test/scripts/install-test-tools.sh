#!/usr/bin/env bash
# Installs the Debian packages that gateway integration tests drive, when they are missing:
# promtool (package prometheus) for DashboardIT, chromium and chromium-driver for
# ExplanationPageIT. Maven runs it before the integration tests (pre-integration-test), so
# `mvn -B verify` works on a fresh machine. Needs root or sudo; never fails the build itself.
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages for the integration tests: ${missing[*]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

# The prometheus package starts a server when installed; the tests only need promtool, and a
# Prometheus the developer runs is none of this script's business. A policy-rc.d that answers 101
# (action forbidden) keeps invoke-rc.d and deb-systemd-invoke from starting services during the
# install, and is removed after it. A policy already there is the administrator's and stays (the
# one Docker images ship forbids every start).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$sudo rm -f "$policy"' EXIT
  trap 'exit 1' HUP INT TERM
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null 2>&1 && $sudo chmod 755 "$policy"
fi
# in case a policy let the server start after all, stop only a server that was not running before
running=" $(pgrep -x prometheus 2>/dev/null | tr '\n' ' ') "

if ! ($sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1; then
  echo "warning: could not install ${missing[*]}; DashboardIT and ExplanationPageIT will fail" >&2
fi

for pid in $(pgrep -x prometheus 2>/dev/null); do
  case "$running" in
    *" $pid "*) ;;
    *) $sudo kill "$pid" 2>/dev/null ;;
  esac
done
exit 0
