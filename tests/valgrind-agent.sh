#!/bin/sh
# The agent under valgrind, for `make check-hard`: the integration tests run
# this in place of the binary (VMCRYPT_BIN).  One log per process in
# $VALGRIND_LOGS.  Quiet (-q): a log holds something only for an error or a
# definite leak, and check-hard fails on any non-empty log.
set -eu
: "${VMCRYPT_REAL_BIN:?}" "${VALGRIND_LOGS:?}"
exec valgrind -q --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-fds=no \
    --log-file="$VALGRIND_LOGS/vg-%p.log" "$VMCRYPT_REAL_BIN" "$@"
