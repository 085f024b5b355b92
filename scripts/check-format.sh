#!/usr/bin/env bash
# Fails, naming the files, if clang-format (with the repository's
# .clang-format) would change any C++ file that git tracks. scripts/test.sh runs
# it first. To fix: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."

if (($#)); then
  echo "usage: $0" >&2
  exit 2
fi

unformatted=()
while IFS= read -r file; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(git ls-files '*.cc' '*.h')

if ((${#unformatted[@]})); then
  echo "check-format: clang-format would change ${#unformatted[@]} file(s):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "check-format: run: git ls-files '*.cc' '*.h' | xargs clang-format -i" >&2
  exit 1
fi
echo "check-format: every C++ file is formatted"
