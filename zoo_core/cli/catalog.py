"""`zoo list`, `zoo info`, `zoo plugins`: what the zoo has."""

from __future__ import annotations

import argparse
import json
import sys

from .. import models, plugins
from ..factory import model_info
from ..plugins import list_plugins
from ..torch2keras import timm_models
from .app import command, table


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="wildcard pattern, e.g. 'resnet*'")
    p.add_argument("--framework", "-f", help="only models this framework can build (torch, tf, ...)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--timm", metavar="PATTERN", help="list timm's model names matching PATTERN (imports timm); "
                   "load one as timm:NAME in either framework")


@command("list", "list the registered models")(_list_args)
def cmd_list(args: argparse.Namespace) -> int:
    if args.timm is not None:
        names = timm_models.list_names(args.timm)
        print(json.dumps([f"timm:{n}" for n in names], indent=2) if args.json else
              "\n".join(f"timm:{n}" for n in names))
        if not names:
            print(f"no timm model matches {args.timm!r}", file=sys.stderr)
        return 0
    names = models.list_models(args.pattern, framework=args.framework)
    rows = []
    for name in names:
        entry = models.get_entry(name)
        arch = plugins.get_architecture(entry.architecture)
        h, w = entry.input_size
        rows.append([name, entry.architecture, ",".join(arch.frameworks), f"{h}x{w}x{entry.in_chans}",
                     str(entry.num_classes)])
    if args.json:
        keys = ["name", "architecture", "frameworks", "input", "num_classes"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
    else:
        print(table(rows, ["model", "architecture", "frameworks", "input (HxWxC)", "classes"]))
        hidden = [(e, why) for e, why in models.unavailable_entries() if e.name in
                  set(models.list_models(args.pattern, include_unavailable=True))]
        for entry, why in hidden:
            print(f"unavailable: {entry.name}: {why}", file=sys.stderr)
    return 0


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="model name or alias")
    p.add_argument("--no-params", action="store_true", help="skip building the models to count parameters")
    p.add_argument("--json", action="store_true")


@command("info", "show a model's registry entry, stages, preprocessing and parameters per framework")(_info_args)
def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.name, params=not args.no_params)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    h, w = info["input_size"]
    lines = [
        f"{info['name']}: {info['description']}",
        f"  architecture   {info['architecture']} (plugin {info.get('plugin')})",
        f"  defined at     {info['source']}",
        f"  frameworks     {', '.join(info.get('frameworks', [])) or '-'}",
        f"  config         {json.dumps(info['config'])}",
        f"  classes        {info['num_classes']}",
        f"  input          {h}x{w}, {info['in_chans']} channels (torch NCHW, Keras NHWC)",
        f"  preprocessing  mean {list(info['mean'])}, std {list(info['std'])}, "
        f"{info['interpolation']}, crop {info['crop_pct']} ({info['crop_mode']})",
        f"  license        {info['license']}",
    ]
    if info.get("aliases"):
        lines.append(f"  aliases        {', '.join(info['aliases'])}")
    if info.get("weights"):
        wt = info["weights"]
        lines.append(f"  weights        hf://{wt['repo']}@{wt['revision']} sha256 {wt.get('sha256') or '-'}")
    if info.get("stages"):
        lines.append(f"  stages         {' > '.join(info['stages'])}")
    for fw, n in info.get("params", {}).items():
        lines.append(f"  params ({fw:<5}) {n:,}")
    if not info["available"]:
        lines.append(f"  UNAVAILABLE    {info['unavailable_reason']}")
    print("\n".join(lines))
    return 0


def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


@command("plugins", "list plugins, their versions, architectures and frameworks, and load errors")(_plugins_args)
def cmd_plugins(args: argparse.Namespace) -> int:
    models.catalogue()  # a plugin whose registry file is invalid or reuses a model name fails here, and is listed
    infos = list_plugins()
    if args.json:
        print(json.dumps([{**vars(p), "ok": p.ok} for p in infos], indent=2))
        return 0
    rows = [[p.name, p.distribution or "-", p.version or "-", ",".join(p.architectures) or "-",
             ",".join(p.frameworks) or "-", "ok" if p.ok else "FAILED"] for p in infos]
    print(table(rows, ["plugin", "distribution", "version", "architectures", "frameworks", "status"]))
    for p in infos:
        if not p.ok:
            print(f"FAILED {p.label}: {p.error}")
    return 0
