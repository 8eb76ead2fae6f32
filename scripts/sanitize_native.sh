#!/usr/bin/env bash
# Build the optional C accelerators with AddressSanitizer and UndefinedBehaviorSanitizer into
# a copy of the package and run the suites that drive them (hypothesis "long" profile by
# default: several minutes). Usage, from the repository root with the venv active:
#   scripts/sanitize_native.sh [pytest args...]
# Linux with gcc; needs nothing but the dev dependencies. Reported in docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
work="$tmp/repo"
mkdir "$work"
cp -r "$root/sm_payloads" "$root/tests" "$root/conftest.py" "$root/pyproject.toml" "$work/"
rm -f "$work"/sm_payloads/*.so "$work"/sm_payloads/formats/*.so
py="${PYTHON:-python}"
inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
for src in "$work"/sm_payloads/formats/_c*.c; do
    name="$(basename "$src" .c)"
    # SMP_CFLAGS: extra flags, e.g. "-DSMP_NO_SIMD" or "-DSMP_NO_SIMD -DSMP_NO_SWAR" to test
    # the word-wise or byte-wise fallbacks of _cparse on a machine that has SSE2
    # shellcheck disable=SC2086
    gcc -shared -fPIC -O1 -g -std=c99 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -fno-omit-frame-pointer ${SMP_CFLAGS:-} -I"$inc" "$src" -o "$work/sm_payloads/formats/$name$suffix"
done
cd "$work"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 PYTHONPATH="$work" SM_PAYLOADS_REQUIRE_NATIVE=1
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-long}" SAGEMAKER_SUPPRESS_V2_WARNING=1
if [ "$#" -eq 0 ]; then
    set -- tests/test_native.py tests/test_numbers.py tests/test_number_words.py tests/test_json_split.py \
        tests/test_sparse_fastpath.py tests/test_csv.py \
        tests/test_csv_fastpath.py tests/test_json.py tests/test_json_fastpath.py tests/test_jsonlines.py \
        tests/test_responses_fastpath.py tests/test_libsvm.py tests/test_libsvm_fastpath.py \
        tests/test_recordio_protobuf.py tests/test_recordio_protobuf_merge.py
fi
"$py" -m pytest -q -p no:cacheprovider "$@"
