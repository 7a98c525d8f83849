from relubench.cli import main

main()
