#!/bin/sh
# Builds a Relacy model of tests/model/ against Debian's relacy-dev and runs
# it. Usage: run.sh SOURCE_DIR BUILD_DIR CXX [--model NAME] [ARGS...]
# NAME: event_count (default; event_count_model.cpp) or mailbox_ack
# (mailbox_ack_model.cpp) or ring (ring_model.cpp); ARGS go to the model. Installs relacy-dev when run
# as root; otherwise exits 77 (skip) with the reason when it is missing. The
# binary is rebuilt only when a source changed.
src=$1 out=$2 cxx=$3
shift 3
model=event_count
if [ "$1" = --model ]; then
  model=$2
  shift 2
fi
case $model in
  event_count) deps="$src/include/ringport/detail/event_count.hpp" ;;
  mailbox_ack) deps="$src/include/ringport/detail/mailbox_ack.hpp $src/include/ringport/detail/event_count.hpp" ;;
  ring) deps=$(echo "$src"/include/ringport/detail/*.hpp) ;;
  *) echo "model: unknown model $model" >&2; exit 2 ;;
esac
if [ ! -f /usr/include/relacy/relacy.hpp ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sh "$src/cmake/deps.sh" relacy-dev || exit 1
  else
    echo "model: skipped: Debian's relacy-dev is not installed (as root: apt-get install -y relacy-dev)"
    exit 77
  fi
fi
mkdir -p "$out" || exit 1
bin=$out/${model}_model
for f in "$src/tests/model/${model}_model.cpp" "$src/tests/model/relacy_env.hpp" $deps \
         "$src/include/ringport/status.hpp" "$0"; do
  [ "$bin" -nt "$f" ] || { rm -f "$bin"; break; }
done
if [ ! -x "$bin" ]; then
  # -O1: the model spends its time in Relacy; -O2 only lengthens the build.
  "$cxx" -std=c++20 -O1 -Wall -Wextra -I"$src/include" "$src/tests/model/${model}_model.cpp" -o "$bin.tmp" &&
    mv "$bin.tmp" "$bin" || exit 1
fi
exec "$bin" "$@"
