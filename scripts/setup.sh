#!/usr/bin/env bash
# One-command set-up of binpick on Debian 12 / Python 3.11 (what `make setup` runs).
#
# Steps, each skipped when already done (a second run takes seconds):
#   1. Debian packages the stack needs (apt-get when root, otherwise a clear message);
#   2. .venv with the pinned Python dependencies (requirements/base.txt, constrained by lock.txt), and
#      Blender's bpy for the physically based domain (requirements/render.txt, without its dependencies);
#   3. repair of the ROS 2 wheels' exported CMake include paths (inside .venv only);
#   4. colcon build of src/binpick_interfaces and the standard messages the wheels lack (src/third_party:
#      vision_msgs, tf2_msgs), installed into .venv (so nothing needs sourcing);
#   5. binpick itself, installed editable into .venv, and registered as a ROS 2 package in the venv prefix
#      (ament index, share/binpick/{package.xml,launch,config}), so `ros2 launch binpick ...` finds it;
#   6. optional extra wheels: BINPICK_EXTRA_WHEELS=DIR[:DIR...] installs every *.whl found there
#      (--no-deps: their Python dependencies are in requirements/), e.g. the ROS 2 launch system and
#      command line where no ROS 2 install provides them. COLCON_EXTRA_SRC=DIR[:DIR...] adds interface
#      packages to the colcon build of step 4 (e.g. composition_interfaces, which launch_ros imports).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
STAMPS=$VENV/.binpick-setup
# build tools for the interfaces package; libegl1/libgl1/libusb-1.0-0/libgomp1 for open3d and torch
DEB_PACKAGES="cmake make g++ libegl1 libgl1 libusb-1.0-0 libgomp1"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

# 1. Debian packages ----------------------------------------------------------------------------
missing=""
for pkg in $DEB_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if ! "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  missing="$missing python3-dev"
fi
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
  else
    echo "setup: these Debian packages are missing:$missing" >&2
    echo "setup: install them with:  sudo apt-get install -y$missing   then run 'make setup' again" >&2
    exit 1
  fi
fi

# 2. virtual environment and Python dependencies --------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); the ROS 2 Jazzy wheels need Python 3.11 (set PYTHON=python3.11)" >&2
  exit 1
}
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# colcon must not crawl the ROS packages that the wheels put under .venv/share
touch "$VENV/COLCON_IGNORE"
deps_hash=$(hash_of requirements/*.txt)
if ! stamp_ok deps "$deps_hash"; then
  say "installing Python dependencies (torch, ROS 2 wheels, open3d ... a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
  # opencv-contrib-python-headless replaces opencv-python-headless (both own cv2/): remove the old one first
  "$VENV/bin/python" -m pip uninstall -q -y opencv-python-headless 2>/dev/null || true
  "$VENV/bin/python" -m pip install -q -r requirements/base.txt -c requirements/lock.txt
  # Blender as a module for the physically based domain: --no-deps, as its numpy < 2 pin is not needed
  # by what binpick calls (requirements/render.txt)
  "$VENV/bin/python" -m pip install -q --no-deps -r requirements/render.txt
  stamp_set deps "$deps_hash"
fi

# 3. CMake include paths of the ROS 2 wheels --------------------------------------------------------
"$VENV/bin/python" scripts/fix_ros_cmake.py >/dev/null

# 4. binpick_interfaces ---------------------------------------------------------------------------
mkdir -p build
IFS=: read -r -a extra_src <<< "${COLCON_EXTRA_SRC:-}"
for d in "${extra_src[@]}"; do
  [ -d "$d" ] || { echo "setup: COLCON_EXTRA_SRC: $d is not a folder" >&2; exit 1; }
done
# the standard message packages the wheels lack (vision_msgs, tf2_msgs), built with the project's own
vendored=(src/third_party/*/)
iface_hash=$(hash_of $(find src/binpick_interfaces "${vendored[@]}" "${extra_src[@]}" -type f | sort) "$STAMPS/deps")
if ! stamp_ok interfaces "$iface_hash" || [ ! -d "$VENV/lib/python3.11/site-packages/binpick_interfaces" ]; then
  say "building src/binpick_interfaces ${vendored[*]} ${extra_src[*]} with colcon"
  (
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    colcon --log-base build/log build --base-paths src/binpick_interfaces "${vendored[@]}" "${extra_src[@]}" --build-base build \
      --install-base "$VENV" --merge-install --event-handlers console_direct- \
      --cmake-args -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$VENV/bin/python" >build/colcon.log 2>&1 \
      || { tail -40 build/colcon.log >&2; echo "setup: colcon build failed, full log in build/colcon.log" >&2; exit 1; }
  )
  stamp_set interfaces "$iface_hash"
fi

# 5. binpick ---------------------------------------------------------------------------------------
pkg_hash=$(hash_of src/binpick/setup.py src/binpick/setup.cfg)
if ! stamp_ok binpick "$pkg_hash"; then
  say "installing binpick (editable)"
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e src/binpick
  stamp_set binpick "$pkg_hash"
fi
"$VENV/bin/python" scripts/register_ros_package.py "$VENV"

# 6. optional extra wheels --------------------------------------------------------------------------
IFS=: read -r -a extra_wheels <<< "${BINPICK_EXTRA_WHEELS:-}"
wheels=()
for d in "${extra_wheels[@]}"; do
  [ -d "$d" ] || { echo "setup: BINPICK_EXTRA_WHEELS: $d is not a folder" >&2; exit 1; }
  wheels+=("$d"/*.whl)
done
if [ ${#wheels[@]} -gt 0 ]; then
  wheels_hash=$(hash_of "${wheels[@]}")
  if ! stamp_ok extra-wheels "$wheels_hash"; then
    say "installing ${#wheels[@]} extra wheel(s) from ${BINPICK_EXTRA_WHEELS}"
    "$VENV/bin/python" -m pip install -q --no-deps --no-index "${wheels[@]}"
    stamp_set extra-wheels "$wheels_hash"
  fi
fi

"$VENV/bin/python" -c 'import rclpy, binpick_interfaces.msg, binpick' || {
  echo "setup: the venv does not import rclpy, binpick_interfaces and binpick; see the messages above" >&2
  exit 1
}
say "done. Activate with:  source .venv/bin/activate   (or call .venv/bin/binpick directly)"
