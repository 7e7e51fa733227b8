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
if ! ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1; then
  echo "warning: could not install ${missing[*]}; DashboardIT and ExplanationPageIT will fail" >&2
fi
# the prometheus package may start a server; the tests only need promtool
pkill -x prometheus 2>/dev/null || true
exit 0
