from bci_stream.cli import main

main()
