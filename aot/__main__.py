"""``python -m aot``: Ctrl-C while the (slow) imports run exits quietly with 130, as during a command."""
import sys

try:
    from .cli import main
    code = main()
except KeyboardInterrupt:  # before main() catches it itself: startup, imports, argument parsing
    code = 130
sys.exit(code)
