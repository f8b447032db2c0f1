"""`python -m avesa …` is the `avesa` command."""

from avesa.cli.app import main

main()
