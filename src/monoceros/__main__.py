"""`python -m monoceros` runs the same entry point as the `monoceros` console script."""

from monoceros.cli import main

if __name__ == "__main__":
    main()
