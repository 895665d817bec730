#!/usr/bin/env python3
"""Checks that the `bootstrap` binaries `sam build` produced will load on Lambda.

For every function of template.yaml built with `BuildMethod: rust-cargolambda`,
reads BUILD_DIR/<LogicalId>/bootstrap and checks:

- an ELF 64-bit little-endian executable for the template's architecture
  (Globals.Function.Architectures or the function's own);
- every GLIBC_x.y symbol version it needs is at most the runtime's glibc
  (provided.al2023: 2.34), read with `readelf -V` (arch-independent);
- it needs no shared library beyond glibc's own and libgcc_s (the runtime image
  has nothing else we could rely on: OpenSSL, SASL, zlib, zstd and librdkafka
  must be linked in);
- where librdkafka is linked in, it was built with TLS, SASL/SCRAM and
  OAUTHBEARER (MSK's auth options), zlib and zstd;
- its size is under the limit below (a 50 MB zip is Lambda's direct-upload cap).

Prints one line per binary and writes the figures to BUILD_DIR/binaries.json.
Exit status 0 when all pass, 1 with the failures listed otherwise.
Usage: check_binaries.py [--template template.yaml] [--build-dir .aws-sam/build]

With --cargo-lambda-args it checks nothing and prints the arguments of the one
`cargo lambda build` that builds every function's binary as `sam build` will
(same profile, same target; aws-lambda-builders' rust_cargo workflow), so that
`sam build`'s own builds, one per function, find them built (infra/sam/build.sh).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

from check_template_matches_code import load_template

RUNTIME_GLIBC = {"provided.al2023": (2, 34), "provided.al2": (2, 26)}
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
ALLOWED_LIBRARIES = re.compile(
    r"^(libc|libm|libdl|libpthread|librt|libutil|libgcc_s)\.so\.\d+$|^ld-linux-(aarch64|x86-64)\.so\.\d+$"
)
MAX_BYTES = 50 * 1024 * 1024
# librdkafka's compile-time strings: BUILT_WITH (cmake build) and the SASL
# mechanisms in an error message built from the same #ifdefs.
RDKAFKA_BUILT_WITH = re.compile(rb"CMAKE [A-Za-z0-9_ ]+")
RDKAFKA_SASL = re.compile(rb"Current build options: ([A-Z0-9_ ]+)")
NEEDED_RDKAFKA_FEATURES = {"SSL", "ZSTD", "ZLIB", "SASL_SCRAM", "OAUTHBEARER"}


def elf_machine(data: bytes) -> int | None:
    """e_machine of a 64-bit little-endian ELF, or None if it is not one."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    return struct.unpack_from("<H", data, 18)[0]


def readelf(path: Path, *flags: str) -> str:
    return subprocess.run(
        ["readelf", "-W", *flags, str(path)], check=True, capture_output=True, text=True
    ).stdout


def check(path: Path, arch: str, runtime: str) -> tuple[dict, list[str]]:
    problems: list[str] = []
    data = path.read_bytes()
    facts: dict = {"bytes": len(data)}
    machine = elf_machine(data)
    if machine != ELF_MACHINE[arch]:
        problems.append(f"not an ELF64 {arch} executable (e_machine {machine})")
        return facts, problems

    versions = sorted(
        {tuple(map(int, v)) for v in re.findall(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", readelf(path, "-V"))}
    )
    newest = versions[-1] if versions else None
    facts["newest_glibc"] = ".".join(map(str, newest)) if newest else None
    limit = RUNTIME_GLIBC[runtime]
    if newest and newest > limit:
        too_new = [".".join(map(str, v)) for v in versions if v > limit]
        problems.append(f"needs GLIBC {', '.join(too_new)}; {runtime} has {'.'.join(map(str, limit))}")

    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(path, "-d"))
    facts["needed"] = needed
    extra = [lib for lib in needed if not ALLOWED_LIBRARIES.match(lib)]
    if extra:
        problems.append(f"needs shared libraries the runtime may lack: {', '.join(extra)}")

    built_with = RDKAFKA_BUILT_WITH.search(data)
    if built_with:
        sasl = RDKAFKA_SASL.search(data)
        features = set(built_with.group().decode().split()) | set(sasl.group(1).decode().split() if sasl else [])
        facts["rdkafka_features"] = sorted(features & (NEEDED_RDKAFKA_FEATURES | {"PLAIN", "SNAPPY", "LZ4"}))
        missing = NEEDED_RDKAFKA_FEATURES - features
        if missing:
            problems.append(f"librdkafka built without {', '.join(sorted(missing))}")

    if len(data) > MAX_BYTES:
        problems.append(f"{len(data) / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")
    return facts, problems


def resolve(template: dict, value):
    """A `!Ref` to a parameter as its default: what `sam build` built for
    (infra/sam/build.sh passes no overrides)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"], {})
        if "Default" not in parameter:
            raise SystemExit(f"cannot resolve {value}: no such parameter with a default")
        return parameter["Default"]
    return value


def functions(template: dict) -> list[tuple[str, str, str, str]]:
    """(logical id, binary, architecture, runtime) of each rust-cargolambda function."""
    defaults = template.get("Globals", {}).get("Function", {})
    found = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata", {})
        if metadata.get("BuildMethod") != "rust-cargolambda":
            continue
        props = resource.get("Properties", {})
        arch = resolve(template, (props.get("Architectures") or defaults.get("Architectures") or ["x86_64"])[0])
        runtime = resolve(template, props.get("Runtime") or defaults.get("Runtime"))
        found.append((name, metadata.get("BuildProperties", {}).get("Binary", ""), arch, runtime))
    return found


def cargo_lambda_args(template: dict) -> list[str] | None:
    """`cargo lambda build` arguments building every function at once, as
    SAM builds each (its command: --release, then the target for the runtime
    and architecture, then --bin); None when the functions differ in target or
    one names no binary (SAM's builds then do it all)."""
    found = functions(template)
    targets = {(arch, runtime) for _, _, arch, runtime in found}
    if not found or len(targets) != 1 or not all(binary for _, binary, _, _ in found):
        return None
    ((arch, runtime),) = targets
    args = ["lambda", "build", "--release"]
    if runtime == "provided.al2":
        args += ["--target", f"{'aarch64' if arch == 'arm64' else 'x86_64'}-unknown-linux-gnu.2.26"]
    elif arch == "arm64":
        args.append("--arm64")
    for _, binary, _, _ in found:
        args += ["--bin", binary]
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="template.yaml", type=Path)
    parser.add_argument("--build-dir", default=".aws-sam/build", type=Path)
    parser.add_argument("--cargo-lambda-args", action="store_true")
    args = parser.parse_args()

    template = load_template(args.template)
    if args.cargo_lambda_args:
        build = cargo_lambda_args(template)
        print(" ".join(build) if build else "")
        return 0
    report: dict = {}
    failures: list[str] = []
    for name, _, arch, runtime in functions(template):
        path = args.build_dir / name / "bootstrap"
        if not path.is_file():
            failures.append(f"{name}: {path} is missing (run sam build first)")
            continue
        facts, problems = check(path, arch, runtime)
        facts.update(arch=arch, runtime=runtime, ok=not problems)
        report[name] = facts
        has_kafka = "with librdkafka " + ",".join(facts["rdkafka_features"]) if "rdkafka_features" in facts else ""
        print(
            f"{'ok  ' if not problems else 'FAIL'} {name:<16} {arch} {facts['bytes'] / 1e6:5.1f} MB, "
            f"newest GLIBC {facts.get('newest_glibc')}, needs {' '.join(facts.get('needed', []))} {has_kafka}"
        )
        failures += [f"{name}: {p}" for p in problems]

    if not report and not failures:
        failures.append("no rust-cargolambda function in the template")
    if not any("rdkafka_features" in f for f in report.values()):
        failures.append("no binary links librdkafka: the feature check could not run")
    (args.build_dir / "binaries.json").write_text(json.dumps(report, indent=2) + "\n")
    for failure in failures:
        print(f"check_binaries: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
