#!/usr/bin/env python3
"""Every ```cpp block of README.md is a whole program: compile each, run most.

The rule for README authors (also stated at the top of README.md):
  - a ```cpp block is a complete C++20 program (its #includes, a main() that
    returns 0 only when every result it got was what it expected); no
    placeholders such as `{ ... }` or `order{...}`;
  - it is compiled with `g++ -std=c++20 -Wall -Wextra -Werror` against the
    library (core and topology) and run with a 30 s limit, in a private
    domain (RINGPORT_DOMAIN) whose directories are removed afterwards;
  - a block that cannot run alone (it needs a peer process that is not in the
    block, a device, ...) gets the line `<!-- readme: compile-only -->` right
    before its fence; a snippet that is not meant to compile at all is not
    C++ as far as this check goes: fence it as ```text.
Other fences (```sh, ```text, ...) are not checked here.

usage: readme_blocks.py --readme README.md --work DIR --cxx g++
         [--cxxflag F]... [--link ARG]... [--only N]
exit: 0 every block compiled (and ran), 1 a block failed, 2 usage.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys

COMPILE_ONLY = "<!-- readme: compile-only -->"
FENCE = re.compile(r"^```(\S*)\s*$")
RUN_SECONDS = 30


def blocks(text):
    """Yields (first line number, language, compile_only, code) per fence."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i + 1
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise SystemExit(f"README: the fence at line {i + 1} is never closed")
        yield start + 1, lang, prev == COMPILE_ONLY, "\n".join(lines[start:end]) + "\n"
        i = end + 1


def domain_dirs(domain):
    """The directories a run in `domain` may have made (tmpfs, hugetlbfs)."""
    roots = [os.environ.get("RINGPORT_SHM_DIR", "/dev/shm")]
    try:
        with open("/proc/mounts") as f:
            roots += [line.split()[1] for line in f if line.split()[2:3] == ["hugetlbfs"]]
    except OSError:
        pass
    return [os.path.join(r, "ringport." + domain) for r in roots]


def check(args, line, compile_only, code):
    """Compiles (and runs) one block; returns None or what went wrong."""
    name = f"block_line{line}"
    src = os.path.join(args.work, name + ".cpp")
    exe = os.path.join(args.work, name)
    with open(src, "w") as f:
        f.write(code)
    cmd = [args.cxx, "-std=c++20", "-Wall", "-Wextra", "-Werror", *args.cxxflag, src, "-o", exe, *args.link]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        return f"does not compile:\n$ {' '.join(cmd)}\n{built.stdout}{built.stderr}"
    if compile_only:
        return None
    domain = f"readme-{os.getpid()}-{line}"
    env = dict(os.environ, RINGPORT_DOMAIN=domain)
    try:
        ran = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=RUN_SECONDS)
        if ran.returncode != 0:
            return f"exits with {ran.returncode}:\n{ran.stdout}{ran.stderr}"
    except subprocess.TimeoutExpired:
        return f"still running after {RUN_SECONDS} s (killed)"
    finally:
        for d in domain_dirs(domain):
            shutil.rmtree(d, ignore_errors=True)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--cxx", default="g++")
    p.add_argument("--cxxflag", action="append", default=[])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--only", type=int, help="check only the block whose code starts at this line")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()

    with open(args.readme) as f:
        found = [b for b in blocks(f.read()) if b[1] in ("cpp", "c++")]
    if args.only is not None:
        found = [b for b in found if b[0] == args.only]
    if not found:
        print(f"{args.readme}: no C++ blocks found", file=sys.stderr)
        return 1
    os.makedirs(args.work, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        jobs = [(b, pool.submit(check, args, b[0], b[2], b[3])) for b in found]
        failed = 0
        for (line, _, compile_only, _), job in jobs:
            why = job.result()
            what = "compiled" if compile_only else "compiled and ran"
            if why is None:
                print(f"ok   {args.readme}:{line} ({what})")
            else:
                failed += 1
                print(f"FAIL {args.readme}:{line} {why}")
    print(f"{len(found) - failed} of {len(found)} C++ blocks of {args.readme} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
