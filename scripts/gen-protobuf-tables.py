#!/usr/bin/env python3
"""Generates Sources/KubeAPIServer/Protobuf/GeneratedMessages.swift: the field tables of the
table-driven protobuf transcoder (see ProtobufTranscoder.swift for why not swift-protobuf).

Inputs: git mirrors of github.com/kubernetes/api and github.com/kubernetes/apimachinery. From each
package it reads generated.proto (message structure: field numbers, proto types, repeated, maps)
and types.go & co. (the Go json tags: JSON name, omitempty, inline, pointer), and emits only
facts (names, numbers, kinds), no code from those repositories.

Usage:
  scripts/gen-protobuf-tables.py API_GIT_DIR APIMACHINERY_GIT_DIR > Sources/KubeAPIServer/Protobuf/GeneratedMessages.swift

To serve one more built-in kind over protobuf, add one line to ROOTS and run it again.
"""
import re
import subprocess
import sys

# (package directory in k8s.io/api or apimachinery, Go/proto message name). One line per kind.
ROOTS = [
    ("core/v1", "Namespace"), ("core/v1", "Secret"), ("core/v1", "ConfigMap"),
    ("core/v1", "ServiceAccount"), ("core/v1", "Service"), ("core/v1", "Pod"), ("core/v1", "Event"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("rbac/v1", "Role"), ("rbac/v1", "RoleBinding"), ("rbac/v1", "ClusterRole"), ("rbac/v1", "ClusterRoleBinding"),
    ("coordination/v1", "Lease"),
    ("authentication/v1", "TokenRequest"), ("authentication/v1", "SelfSubjectReview"),
    ("authorization/v1", "SelfSubjectAccessReview"), ("authorization/v1", "SubjectAccessReview"),
    ("authorization/v1", "SelfSubjectRulesReview"), ("authorization/v1", "LocalSubjectAccessReview"),
    ("pkg/apis/meta/v1", "DeleteOptions"),
    # Replies: the lists of the kinds above and Status (a watch event is framed by hand).
    ("core/v1", "NamespaceList"), ("core/v1", "SecretList"), ("core/v1", "ConfigMapList"),
    ("core/v1", "ServiceAccountList"), ("core/v1", "ServiceList"), ("core/v1", "PodList"), ("core/v1", "EventList"),
    ("apps/v1", "DeploymentList"),
    ("batch/v1", "JobList"),
    ("rbac/v1", "RoleList"), ("rbac/v1", "RoleBindingList"), ("rbac/v1", "ClusterRoleList"),
    ("rbac/v1", "ClusterRoleBindingList"),
    ("coordination/v1", "LeaseList"),
    ("pkg/apis/meta/v1", "Status"),
]

# API group of each package directory ("" = the core group).
GROUPS = {
    "core": "", "apps": "apps", "batch": "batch", "rbac": "rbac.authorization.k8s.io",
    "coordination": "coordination.k8s.io", "authentication": "authentication.k8s.io",
    "authorization": "authorization.k8s.io", "pkg/apis/meta": "meta.k8s.io",
}

# Messages with their own JSON form (see ProtoKind in ProtobufTables.swift).
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "microTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intOrString",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "rawExtension",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "rawExtension",
    "k8s.io.api.authorization.v1.ExtraValue": "stringList",
    "k8s.io.api.authentication.v1.ExtraValue": "stringList",
}

SCALARS = {"string": "string", "bytes": "bytes", "bool": "bool", "int32": "int32", "int64": "int64",
           "uint32": "uint32", "uint64": "uint64", "double": "double", "float": "float",
           "sint32": "sint32", "sint64": "sint64", "fixed32": "fixed32", "fixed64": "fixed64"}

API, MACHINERY = sys.argv[1], sys.argv[2]


def git_dir_for(pkgdir):
    return MACHINERY if pkgdir.startswith("pkg/") else API


def show(pkgdir, name):
    return subprocess.run(["git", "--git-dir", git_dir_for(pkgdir), "show", f"HEAD:{pkgdir}/{name}"],
                          check=True, capture_output=True, text=True).stdout


def go_files(pkgdir):
    out = subprocess.run(["git", "--git-dir", git_dir_for(pkgdir), "ls-tree", "--name-only", f"HEAD:{pkgdir}"],
                         check=True, capture_output=True, text=True).stdout.split()
    return [f for f in out if f.endswith(".go") and not f.endswith("_test.go") and "generated" not in f]


PROTO_PACKAGES = {}   # proto package -> package dir
MESSAGES = {}         # full name -> list of (number, name, label, type, keytype)
GOFIELDS = {}         # full name -> {number: (jsonName, omitempty, inline, pointer)}


def load(pkgdir):
    if pkgdir in PROTO_PACKAGES.values():
        return
    text = show(pkgdir, "generated.proto")
    text = re.sub(r"//[^\n]*", "", text)
    pkg = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    PROTO_PACKAGES[pkg] = pkgdir
    for m in re.finditer(r"message (\w+) \{(.*?)\n\}", text, re.S):
        fields = []
        for f in re.finditer(r"(optional|repeated)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)", m.group(2)):
            label, typ, k, v, name, num = f.groups()
            if typ.startswith("map<"):
                fields.append((int(num), name, "map", resolve(v, pkg), k))
            else:
                fields.append((int(num), name, label or "optional", resolve(typ, pkg), None))
        MESSAGES[pkg + "." + m.group(1)] = fields
    for name in go_files(pkgdir):
        parse_go(show(pkgdir, name), pkg)


def resolve(typ, pkg):
    if typ in SCALARS:
        return typ
    typ = typ.lstrip(".")
    return typ if "." in typ else pkg + "." + typ


def parse_go(text, pkg):
    for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.S | re.M):
        table = GOFIELDS.setdefault(pkg + "." + m.group(1), {})
        for line in m.group(2).splitlines():
            t = re.match(r"\s*(\w+)?\s*([^\s`]+)?\s*`(.*)`", line)
            if not t:
                continue
            tags = t.group(3)
            pb = re.search(r'protobuf:"\w+,(\d+),', tags)
            if not pb:
                continue
            js = re.search(r'json:"([^"]*)"', tags)
            parts = (js.group(1) if js else "").split(",")
            embedded = t.group(2) is None
            gotype = t.group(2) or t.group(1)
            json_name = parts[0] or (None if embedded else t.group(1))
            table[int(pb.group(1))] = (json_name, "omitempty" in parts[1:], "inline" in parts[1:] or (embedded and not parts[0]),
                                       gotype.startswith("*"))


def pkgdir_of(full):
    pkg, _, _ = full.rpartition(".")
    if pkg not in PROTO_PACKAGES:
        if pkg.startswith("k8s.io.api."):
            load(pkg[len("k8s.io.api."):].replace(".", "/"))
        elif pkg.startswith("k8s.io.apimachinery."):
            load(pkg[len("k8s.io.apimachinery."):].replace(".", "/"))
    return PROTO_PACKAGES[pkg]


def closure():
    todo = []
    for d, name in ROOTS:
        load(d)
        todo.append(next(p for p, dd in PROTO_PACKAGES.items() if dd == d) + "." + name)
    roots = list(todo)
    seen = set()
    while todo:
        full = todo.pop()
        if full in seen or full in SPECIAL:
            continue
        pkgdir_of(full)
        seen.add(full)
        for _, _, _, typ, _ in MESSAGES[full]:
            if typ not in SCALARS:
                todo.append(typ)
    return roots, sorted(seen)


def swift_kind(typ):
    if typ in SCALARS:
        return "." + SCALARS[typ]
    if typ in SPECIAL:
        return "." + SPECIAL[typ]
    return f'.message("{typ}")'


def main():
    roots, names = closure()
    out = ["// GENERATED by scripts/gen-protobuf-tables.py - do not edit by hand.",
           "// Regenerate: scripts/gen-protobuf-tables.py <kubernetes/api git dir> <kubernetes/apimachinery git dir> \\",
           "//     > Sources/KubeAPIServer/Protobuf/GeneratedMessages.swift",
           "// Facts taken from k8s.io/api and k8s.io/apimachinery (generated.proto field numbers and",
           "// types, the Go types' json tags); no code of theirs.",
           "",
           "extension ProtoTables {",
           "    /// The top-level kinds: `apiVersion/kind` -> message.",
           "    static let roots: [String: String] = ["]
    for full in roots:
        d = PROTO_PACKAGES[full.rpartition(".")[0]]
        base, version = d.rsplit("/", 1)
        group = GROUPS[base]
        api_version = f"{group}/{version}" if group else version
        out.append(f'        "{api_version}/{full.rpartition(".")[2]}": "{full}",')
    out += ["    ]", "", "    /// Every message reachable from `roots`, by full proto name.",
            "    static let messages: [String: ProtoMessage] = ["]
    for full in names:
        gof = GOFIELDS.get(full, {})
        out.append(f'        "{full}": ProtoMessage(name: "{full.rpartition(".")[2]}", fields: [')
        for num, name, label, typ, key in MESSAGES[full]:
            json_name, omit, inline, pointer = gof.get(num, (name, True, False, False))
            if json_name is None:
                json_name = name
            if label == "map":
                shape = f".map(key: {swift_kind(key)}, value: {swift_kind(typ)})"
            elif label == "repeated":
                shape = f".repeated({swift_kind(typ)})"
            else:
                shape = f".single({swift_kind(typ)})"
            flags = []
            if omit: flags.append(".omitEmpty")
            if inline: flags.append(".inline")
            if pointer: flags.append(".pointer")
            out.append(f'            ProtoField({num}, "{json_name}", {shape}, [{", ".join(flags)}]),')
        out.append("        ]),")
    out += ["    ]", "}", ""]
    sys.stdout.write("\n".join(out))


main()
