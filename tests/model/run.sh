#!/bin/sh
# Builds the event-count model (tests/model/event_count_model.cpp) against
# Debian's relacy-dev and runs it. Usage: run.sh SOURCE_DIR BUILD_DIR CXX [ARGS...]
# Installs relacy-dev when run as root; otherwise exits 77 (skip) with the
# reason when it is missing. The binary is rebuilt only when a source changed.
src=$1 out=$2 cxx=$3
shift 3
if [ ! -f /usr/include/relacy/relacy.hpp ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sh "$src/cmake/deps.sh" relacy-dev || exit 1
  else
    echo "model: skipped: Debian's relacy-dev is not installed (as root: apt-get install -y relacy-dev)"
    exit 77
  fi
fi
mkdir -p "$out" || exit 1
bin=$out/event_count_model
for f in "$src/tests/model/event_count_model.cpp" "$src/tests/model/relacy_env.hpp" \
         "$src/include/ringport/detail/event_count.hpp" "$src/include/ringport/status.hpp" "$0"; do
  [ "$bin" -nt "$f" ] || { rm -f "$bin"; break; }
done
if [ ! -x "$bin" ]; then
  # -O1: the model spends its time in Relacy; -O2 only lengthens the build.
  "$cxx" -std=c++20 -O1 -Wall -Wextra -I"$src/include" "$src/tests/model/event_count_model.cpp" -o "$bin.tmp" &&
    mv "$bin.tmp" "$bin" || exit 1
fi
exec "$bin" "$@"
