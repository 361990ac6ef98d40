"""`python -m facts.verify > verify_gpu.py`: the verification as the one program the fact runs,
to copy to a host and run there by hand (``ENV/bin/python verify_gpu.py --help``)."""

import sys

from facts.verification import verification_program

sys.stdout.write(verification_program())
