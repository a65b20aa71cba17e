from frbench.cli import main

main()
