"""The command line: typer and rich only; every command calls one function of consolidate.commands or the runner."""
