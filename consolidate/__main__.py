from consolidate.cli.main import main

main()
