#!/usr/bin/env bash
# Puts `liverstiff` on PATH for every directory by linking this checkout into npm's global prefix
# (`npm link`: <prefix>/bin/liverstiff -> bin/liverstiff.mjs here), idempotently: when the command there
# already runs this checkout, nothing is done. Without the link, `npx liverstiff` runs it inside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
here_bin="$(pwd -P)/bin/liverstiff.mjs"
prefix="$(npm prefix -g)"
linked="$prefix/bin/liverstiff"

if [ -e "$linked" ] && [ "$(readlink -f "$linked")" = "$here_bin" ]; then
  echo "setup: liverstiff already linked: $linked -> $here_bin"
  exit 0
fi
if [ -e "$linked" ]; then
  echo "setup: replacing $linked (it ran $(readlink -f "$linked"))"
fi
sudo_cmd=()
if [ ! -w "$prefix/lib/node_modules" ] && [ ! -w "$prefix" ] && [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" npm link --no-audit --no-fund >/dev/null
echo "setup: linked $linked -> $here_bin"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "setup: note: $prefix/bin is not on PATH; add it, or run npx liverstiff in this folder" ;;
esac
