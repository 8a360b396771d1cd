#!/usr/bin/env python3
"""Write a C file holding the dashboard's files (runtime/http/assets/).

usage: embed_assets.py OUT.c FILE...

index.html is served at "/", every other file at "/<name>". The bytes are
written as arrays, so any file (SVG, PNG) embeds the same way.
"""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def main():
    out, files = sys.argv[1], sorted(sys.argv[2:])
    lines = ['/* Written by runtime/http/embed_assets.py; do not edit. */',
             '#include <string.h>', '#include "http/assets.h"', '']
    table = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        data = open(path, "rb").read()
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit("embed_assets.py: no content type for %s" % name)
        body = ",".join(str(b) for b in data)
        lines.append("static const unsigned char a%d[] = {%s,0};" % (i, body))
        url = "/" if name == "index.html" else "/" + name
        table.append('    {"%s", "%s", a%d, %d},' % (url, TYPES[ext], i, len(data)))
    lines.append("static const struct taas_http_asset_file files[] = {")
    lines.extend(table)
    lines.append("};")
    lines.append("""
const struct taas_http_asset_file *taas_http_asset(const char *url)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(url, files[i].path) == 0)
            return &files[i];
    return NULL;
}""")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
