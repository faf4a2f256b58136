from ptenv.cli import main

main()
