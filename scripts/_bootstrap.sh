# shellcheck shell=bash
# Shared set-up for scripts/serve and scripts/test; source it, don't run it.
#
# After sourcing, the working directory is the repository root. `accord_bootstrap [uv sync args]`
# makes sure ./.venv exists (on the machine's own Python >= 3.11: uv never downloads one), holds
# the pinned uv, and matches uv.lock exactly for the locked packages (--frozen: the lock is never
# re-resolved; --inexact: uv itself, which is not in the lock, stays installed).

ACCORD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ACCORD_ROOT" || exit 1

ACCORD_UV_VERSION="0.13.8"
ACCORD_VENV=".venv"

accord_note() { printf 'accord: %s\n' "$*" >&2; }
accord_die() { printf 'accord: error: %s\n' "$*" >&2; exit 1; }

# Print the path of the first Python >= 3.11 that can make a virtualenv with pip, or fail.
# Each candidate is run, not just looked up: a pyenv shim exists even when the version behind
# it is not active.
accord_find_python() {
  local candidate exe
  for candidate in python3.13 python3.12 python3.11 python3; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    exe="$("$candidate" -c '
import sys
if sys.version_info >= (3, 11):
    import ensurepip, venv  # noqa: F401 (Debian splits these into python3-venv)
    print(sys.executable)
' 2>/dev/null)" || continue
    if [[ -n "$exe" ]]; then
      printf '%s\n' "$exe"
      return 0
    fi
  done
  return 1
}

accord_bootstrap() {
  local python
  if [[ -e "$ACCORD_VENV/bin/python" ]] && ! "$ACCORD_VENV/bin/python" -c '' >/dev/null 2>&1; then
    accord_note "$ACCORD_VENV is broken (its Python no longer runs); recreating it"
    python="$(accord_find_python)" || accord_die "no usable Python >= 3.11 found (tried python3.13, python3.12, python3.11, python3; on Debian also install python3-venv)"
    "$python" -m venv --clear "$ACCORD_VENV" || accord_die "could not recreate $ACCORD_VENV with $python"
  elif [[ ! -e "$ACCORD_VENV/bin/python" ]]; then
    python="$(accord_find_python)" || accord_die "no usable Python >= 3.11 found (tried python3.13, python3.12, python3.11, python3; on Debian also install python3-venv)"
    accord_note "creating $ACCORD_VENV with $python ($("$python" -c 'import platform; print(platform.python_version())')); the first install takes a minute"
    "$python" -m venv "$ACCORD_VENV" || accord_die "could not create $ACCORD_VENV with $python"
  fi
  "$ACCORD_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || accord_die "$ACCORD_VENV uses Python $("$ACCORD_VENV/bin/python" -V 2>&1); Accord needs >= 3.11 (delete $ACCORD_VENV and rerun)"

  if [[ "$("$ACCORD_VENV/bin/uv" --version 2>/dev/null)" != "uv $ACCORD_UV_VERSION"* ]]; then
    "$ACCORD_VENV/bin/python" -m pip install -qq --disable-pip-version-check \
      "uv==$ACCORD_UV_VERSION" || accord_die "could not install uv==$ACCORD_UV_VERSION into $ACCORD_VENV"
  fi

  # VIRTUAL_ENV from an activated shell elsewhere would only make uv warn; this venv is the target.
  # Bytecode is compiled here, once: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines)
  # Python never caches it, and every process (a server, a job worker, the export's reader, each
  # test's subprocess) would compile every module it imports again, about 3 s of CPU apiece.
  env -u VIRTUAL_ENV UV_PROJECT_ENVIRONMENT="$ACCORD_VENV" UV_PYTHON_DOWNLOADS=never \
    "$ACCORD_VENV/bin/uv" sync --frozen --inexact --quiet --compile-bytecode "$@" \
    || accord_die "installing the locked dependencies failed (uv sync --frozen $*)"
  "$ACCORD_VENV/bin/python" -m compileall -q -j 0 app migrations \
    || accord_die "compiling Accord's own modules failed (python -m compileall app migrations)"
}
