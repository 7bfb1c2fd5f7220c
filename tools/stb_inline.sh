#!/bin/sh
# stb_inline.sh — prints runtime/data/stb.c with each #include <stb/NAME>
# replaced by the text of STBDIR/NAME (Debian's libstb-dev), so
# `cnnc --embed-runtime --main` can put stb_image and stb_image_write into
# one C file.  stb is public domain or MIT, at the user's choice (its
# licence text stays with it, at the end of each header), which allows
# this.  Usage: stb_inline.sh STBDIR runtime/data/stb.c
set -e
dir=$1
awk -v dir="$dir" '
/^[ \t]*#[ \t]*include[ \t]*<stb\// {
    name = $0; sub(/.*<stb\//, "", name); sub(/>.*/, "", name)
    file = dir "/" name
    while ((getline line < file) > 0) print line
    close(file)
    next
}
{ print }' "$2"
