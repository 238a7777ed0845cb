#!/usr/bin/env python3
"""Cloak's VM test tier: real dm-crypt and dm-integrity under QEMU (software emulation).

  cloakvm.py build   [--binary NAME=PATH]... [--tool fio]
  cloakvm.py run     [--disk NAME=PATH[:SIZE]]... [--binary NAME=PATH]... [--tpm-state DIR]
                     [--forward PORT=TARGET]... [--timeout S] [--log FILE] (-c CMD | --script FILE)
  cloakvm.py list
  cloakvm.py scenario [--build-dir DIR] [--binary NAME=PATH]... [--work-dir DIR] [-v] [--keep]
                      [NAME...]      (all scenarios when no NAME is given)

See docs/vm-tests.md.
"""

import argparse
import os
import pathlib
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from harness import scenario, vm  # noqa: E402
from harness.initramfs import build_initramfs  # noqa: E402
from harness.kernel import ensure_kernel  # noqa: E402
from harness.util import HarnessError, parse_size, say, warn  # noqa: E402


def _pairs(values, what):
    result = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise HarnessError(f"--{what} wants NAME=VALUE, got {value!r}")
        result[name] = rest
    return result


def cmd_build(args) -> int:
    kernel = ensure_kernel()
    image = build_initramfs(kernel, _pairs(args.binary, "binary"), args.tool)
    say(f"kernel    {kernel.vmlinuz} ({kernel.release})")
    say(f"initramfs {image} ({image.stat().st_size >> 20} MiB)")
    return 0


def cmd_run(args) -> int:
    kernel = ensure_kernel()
    binaries = {k: os.path.abspath(v) for k, v in _pairs(args.binary, "binary").items()}
    image = build_initramfs(kernel, binaries, args.tool)
    disks = []
    for name, spec in _pairs(args.disk, "disk").items():
        path, _, size = spec.partition(":")
        disks.append(vm.Disk(name, pathlib.Path(path).resolve(), parse_size(size) if size else None))
    forwards = [vm.Forward(int(port), target) for port, target in _pairs(args.forward, "forward").items()]
    script = pathlib.Path(args.script).read_text() if args.script else args.command + "\n"
    workdir = pathlib.Path(args.work_dir).resolve()
    log = pathlib.Path(args.log).resolve() if args.log else workdir / "console.log"
    result = vm.boot(kernel=kernel, initramfs=image, script=script, disks=disks, log=log,
                     workdir=workdir, tpm_state=pathlib.Path(args.tpm_state).resolve()
                     if args.tpm_state else None, forwards=forwards, timeout=args.timeout,
                     echo=not args.quiet)
    say(f"cloakvm: {'guest command succeeded' if result.ok else result.reason} "
        f"({result.seconds:.1f} s; console log {result.log})")
    if result.ok:
        return 0
    return result.rc if result.rc not in (None, 0) else 1


def cmd_list(_args) -> int:
    for name in scenario.available():
        say(f"{name:20} {scenario.load(name).DESCRIPTION}")
    return 0


def cmd_scenario(args) -> int:
    names = args.names or list(scenario.available())
    build_dir = pathlib.Path(args.build_dir).resolve() if args.build_dir else None
    if args.work_dir:
        workroot = pathlib.Path(args.work_dir).resolve()
    elif build_dir:
        workroot = build_dir / "tests" / "vm" / "work"
    else:
        workroot = pathlib.Path("/tmp/cloak-vm-work")
    binaries = {k: os.path.abspath(v) for k, v in _pairs(args.binary, "binary").items()}
    start = time.monotonic()
    kernel = ensure_kernel()
    say(f"cloakvm: kernel {kernel.release} ({kernel.package} {kernel.version}); "
        f"work directory {workroot}")
    results = []
    for name in names:
        passed, message, seconds, boots = scenario.run_scenario(
            name, kernel, workroot, build_dir, binaries, echo=args.verbose, keep=args.keep)
        results.append((name, passed, seconds, boots, message))
        say(f"{'PASS' if passed else 'FAIL'} {name} ({seconds:.1f} s, {boots} boot(s))")
        if message:
            say("  " + message.replace("\n", "\n  "))
    failed = sum(1 for r in results if not r[1])
    say(f"cloakvm: {len(results)} scenario(s) in {time.monotonic() - start:.1f} s")
    for name, passed, seconds, boots, _ in results:
        say(f"  {'PASS' if passed else 'FAIL'}  {name:20} {seconds:6.1f} s  {boots} boot(s)")
    say(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command_name", required=True)

    build = sub.add_parser("build", help="fetch the kernel and build the initramfs")
    build.add_argument("--binary", action="append", metavar="NAME=PATH")
    build.add_argument("--tool", action="append", default=[], help="extra host tool, e.g. fio")
    build.set_defaults(func=cmd_build)

    run = sub.add_parser("run", help="boot once and run a guest command")
    run.add_argument("--disk", action="append", metavar="NAME=PATH[:SIZE]",
                     help="test disk; created sparse with SIZE when PATH is missing")
    run.add_argument("--binary", action="append", metavar="NAME=PATH")
    run.add_argument("--tool", action="append", default=[])
    run.add_argument("--tpm-state", metavar="DIR", help="attach a vTPM (swtpm) keeping state in DIR")
    run.add_argument("--forward", action="append", metavar="PORT=TARGET",
                     help="guest 10.0.2.100:PORT -> tcp:127.0.0.1:HOSTPORT or unix:/path")
    run.add_argument("--timeout", type=float, default=300)
    run.add_argument("--log", metavar="FILE")
    run.add_argument("--work-dir", default="/tmp/cloak-vm-run")
    run.add_argument("-q", "--quiet", action="store_true", help="do not echo the console")
    what = run.add_mutually_exclusive_group(required=True)
    what.add_argument("-c", dest="command", metavar="CMD", help="guest shell command")
    what.add_argument("--script", metavar="FILE", help="guest shell script")
    run.set_defaults(func=cmd_run)

    lister = sub.add_parser("list", help="list scenarios")
    lister.set_defaults(func=cmd_list)

    scen = sub.add_parser("scenario", help="run scenarios (all when none is named)")
    scen.add_argument("names", nargs="*")
    scen.add_argument("--build-dir", help="CMake build directory with the project's binaries")
    scen.add_argument("--binary", action="append", metavar="NAME=PATH")
    scen.add_argument("--work-dir", help="default: BUILD_DIR/tests/vm/work")
    scen.add_argument("--keep", action="store_true", help="keep disk images of passing scenarios")
    scen.add_argument("-v", "--verbose", action="store_true", help="echo guest consoles")
    scen.set_defaults(func=cmd_scenario)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as error:
        warn(f"cloakvm: {error}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
