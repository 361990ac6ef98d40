#!/bin/sh
# STAND-IN Miniconda installer (gpuws lab): not Anaconda's constructor-built installer.
# Same command line as the real Miniconda3-*.sh (-b batch, -p PREFIX, -u update, -f force) and the
# same refusal of an existing prefix. The payload appended below is REAL: conda 4.3.16 on CPython
# 3.7.16, assembled from the lab channel with py-rattler and relocated here the way constructor's
# has_prefix handling does (text files rewritten from the build prefix to PREFIX).
BUILD_PREFIX='@BUILD_PREFIX@'
PREFIX="$HOME/miniconda3"
BATCH=0; FORCE=0; UPDATE=0
while getopts "bfhp:u" option; do
    case "$option" in
        b) BATCH=1 ;;
        f) FORCE=1 ;;
        u) UPDATE=1 ;;
        p) PREFIX="$OPTARG" ;;
        h) printf 'usage: %s [options]\n\nInstalls Miniconda3 py37_4.3.16 (gpuws lab STAND-IN installer)\n\n-b           run install in batch mode (without manual intervention),\n             it is expected the license terms are agreed upon\n-f           no error if install prefix already exists\n-h           print this help message and exit\n-p PREFIX    install prefix, defaults to %s\n-u           update an existing installation\n' "$0" "$PREFIX"
           exit 2 ;;
        *) exit 2 ;;
    esac
done
if [ "$BATCH" = 0 ]; then
    echo "this lab stand-in installer only runs in batch mode (-b)" >&2
    exit 2
fi
if [ -e "$PREFIX" ] && [ "$FORCE" = 0 ] && [ "$UPDATE" = 0 ]; then
    echo "ERROR: File or directory already exists: '$PREFIX'" >&2
    echo "If you want to update an existing installation, use the -u option." >&2
    exit 1
fi
case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
echo "PREFIX=$PREFIX"
echo "Unpacking payload ..."
mkdir -p "$PREFIX" || exit 1
line=$(awk '/^__GPUWS_LAB_PAYLOAD_BELOW__$/ { print NR + 1; exit 0 }' "$0")
tail -n +"$line" "$0" | tar xzf - -C "$PREFIX" || exit 1
while IFS= read -r file; do
    sed -i "s|$BUILD_PREFIX|$PREFIX|g" "$PREFIX/$file"
done < "$PREFIX/.lab-prefix-files"
rm -f "$PREFIX/.lab-prefix-files"
echo "installation finished."
exit 0
__GPUWS_LAB_PAYLOAD_BELOW__
