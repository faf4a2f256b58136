from ptenv.entry import main

main()
