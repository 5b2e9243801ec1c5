#!/usr/bin/env bash
# Installs everything liverstiff needs on Debian 12 with Node 20, idempotently:
#   system packages (libtorch-dev and a C++ toolchain; with --test also the reference tools the tests
#   compare against), npm dependencies, and the native libtorch addon; with --link also `liverstiff` on
#   PATH (npm link, scripts/link-cli.sh). Without --link nothing is installed outside the clone, and
#   `npx liverstiff` runs the command from inside it.
# Re-running it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_link=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --link) want_link=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# libtorch for the engine; OpenBLAS for its dense layers (Debian's default BLAS is the slow reference one;
# the addon links OpenBLAS explicitly, see native/CMakeLists.txt); cmake + g++ to build the addon.
packages=(libtorch-dev libgloo-dev libopenblas0-openmp cmake g++ make)
if [ "$want_test" = 1 ]; then
  # Independent DICOM tools the tests check our files and volumes against, Chromium to open the report
  # and the web app as a reader would, Orthanc with its DICOMweb plugin as the PACS the serve tests
  # talk to, and a single-node Slurm (with munge) for the job-array executor's tests (never used at run
  # time).
  packages+=(dcm2niix dicom3tools dcmtk chromium orthanc orthanc-dicomweb slurm-wlm munge)
fi
if [ -n "${LIVERSTIFF_EXTRA_APT:-}" ]; then
  read -r -a extra <<<"$LIVERSTIFF_EXTRA_APT"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  # With LIBTORCH set, the user brings their own libtorch.
  if [ "$p" = libtorch-dev ] && [ -n "${LIBTORCH:-}" ]; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm dependencies: reinstall only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund
fi

if [ -f scripts/build-native.mjs ]; then
  node scripts/build-native.mjs
fi

# Compiled JavaScript, so that commands and their workers start without compiling TypeScript.
node scripts/build-if-stale.mjs

if [ "$want_link" = 1 ]; then
  bash scripts/link-cli.sh
else
  echo "setup: done; run npx liverstiff --help in this folder (bash scripts/setup.sh --link puts liverstiff on PATH)"
fi
