import sys

from harness import keep_own_bytecode

keep_own_bytecode()

from harness.cli import main  # noqa: E402  (compiled under the kept bytecode)

sys.exit(main())
