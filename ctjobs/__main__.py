"""``python -m ctjobs`` runs the command line."""

from ctjobs.cli import main

main()
