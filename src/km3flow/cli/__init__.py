"""The ``km3flow`` command line; one module per subcommand."""
